# zipp — português (Brasil). Todos os textos dos comandos de barra e todas as respostas ficam aqui.
# Os metadados dos comandos seguem a convenção do poise: `command = name`, `.description`,
# `.PARAM = name`, `.PARAM-description`. Nomes: minúsculas, no máximo 32 caracteres;
# descrições: no máximo 100 caracteres.

## Comandos

imagine = imagine
    .description = Gere uma imagem a partir do seu prompt
    .prompt = prompt
    .prompt-description = O que desenhar
    .seed = semente
    .seed-description = Semente para uma imagem reproduzível (de 0 a 4294967295)
    .negative = negativo
    .negative-description = O que deixar de fora da imagem
    .persona = persona
    .persona-description = Use sua persona (ativado), ignore-a (desativado) ou compare as duas versões lado a lado
    .persona-on = ativado
    .persona-off = desativado
    .persona-compare = comparar
    .aspect = formato
    .aspect-description = O formato da imagem (padrão: o do modelo)
    .aspect-square = 1:1 quadrado
    .aspect-landscape = 4:3 paisagem
    .aspect-portrait = 3:4 retrato
    .aspect-photo = 3:2 foto
    .aspect-photo-portrait = 2:3 foto, vertical
    .aspect-wide = 16:9 largo
    .aspect-tall = 9:16 alto
    .count = quantidade
    .count-description = Quantas imagens, mostradas em uma grade (de 1 a 4)
    .model = modelo
    .model-description = Um modelo que este servidor oferece (padrão: o do servidor)

## Respostas do /imagine

imagine-queued = Na fila — posição { $position }. Vou atualizar esta mensagem enquanto a imagem é gerada.
imagine-rendering = Gerando — etapa { $step }/{ $total }…
imagine-rendering-started = Gerando…
imagine-done = Pronto em { $seconds } s.
imagine-result = Aqui está sua imagem.
imagine-result-grid = Aqui estão suas { $count } imagens. U amplia uma delas, V cria variações dela.
imagine-upscale-cell-button = U{ $n }
imagine-vary-cell-button = V{ $n }
imagine-late-delivery = A geração demorou mais do que o prazo que o Discord me dá para editar a resposta original, então aqui está a imagem.
imagine-downscaled = A imagem foi reduzida para { $width }×{ $height } para caber no limite de upload deste servidor.
imagine-too-large = A imagem é grande demais para o limite de upload deste servidor, por isso não pôde ser anexada.
imagine-field-prompt = Prompt
imagine-field-rendered = Prompt gerado
imagine-field-model = Modelo
imagine-field-seed = Semente
imagine-field-time = Tempo
imagine-field-rewrite = Reescrita
imagine-field-persona = Persona
imagine-persona-version = versão { $version } ({ $source })
imagine-persona-button = Abrir minha persona
imagine-reroll-button = Refazer
imagine-again-not-yours = Só o membro que criou esta imagem pode fazer novas a partir dela.
imagine-plain-button = Sem persona
imagine-vary-subtle-button = Variar (sutil)
imagine-vary-strong-button = Variar (forte)
imagine-upscale-button = Ampliar ×2
imagine-derive-gone = Esta imagem não é mais guardada, então não pode ser variada nem ampliada. Refazer ainda funciona.
imagine-derive-unavailable = Uma comparação lado a lado não pode ser variada nem ampliada. Escolha um lado e depois refaça.
imagine-info-button = Info
imagine-info = **Sobre esta imagem** — modelo { $model }, semente { $seed }, { $steps } passos, { $width }×{ $height }.
    Prompt digitado: { $prompt }
    Prompt renderizado: { $rendered }
    Prompt negativo: { $negative }
    Persona: { $persona }
imagine-info-derived = Feita a partir da imagem { $parent } com “{ $how }”.
imagine-info-none = nenhum
imagine-info-not-yours = Só o membro que criou esta imagem pode ver os detalhes dela.
imagine-info-gone = Os detalhes desta imagem não são mais guardados.
imagine-field-left = Esquerda
imagine-field-right = Direita
imagine-compare-result = Mesma semente, dois prompts: um reescrito para a sua persona e outro exatamente como você digitou. Qual você prefere?

## Modo de comparação

compare-left-better = A da esquerda é melhor
compare-right-better = A da direita é melhor
compare-not-yours = Só o membro que pediu esta imagem pode escolher.
compare-already-picked = Você já escolheu nesta imagem; vale a sua primeira escolha.
compare-unknown = Essa comparação não existe mais.
compare-pick-not-kept = Obrigado — sua escolha aparece, mas não é guardada: o zipp só guarda escolhas de quem permite que ele aprenda (/persona consentimento ativado).
error-compare-needs-persona = O modo de comparação precisa de uma persona, e você ainda não tem uma neste servidor.

## /stats

stats = estatísticas
    .description = Com que frequência os membros daqui preferiram a imagem feita com a própria persona
stats-none = Ainda não há comparações. Experimente /imagine com persona: comparar e escolha a imagem de que você mais gosta.
stats-win-rate = As imagens com persona venceram { $rate }% de { $n } comparações ({ $wins } vitórias; intervalo de 95%: { $low }–{ $high }%).
stats-refusals = Pedidos recusados: { $total } ({ $limits } acima dos limites, { $blocklist } pela lista de bloqueio do servidor, { $builtin } pela lista embutida, { $safety } imagens retidas pela verificação de segurança).

queue = fila
    .description = Suas imagens em andamento: lugar na fila, previsão e botões Cancelar
queue-empty = Você não tem imagens em andamento aqui.
queue-rendering = renderizando, passo { $step } de { $total }
queue-waiting = esperando, posição { $position } na fila
queue-waiting-eta = esperando, posição { $position } na fila, pronta { $eta }
queue-cancel = Cancelar { $number }
queue-server = Este servidor tem { $here } imagens em andamento ({ $everywhere } no bot todo).
queue-cancelled = Cancelada.
queue-not-cancelled = Essa imagem não está mais em andamento (ou não é sua), então nada foi cancelado.
render-cancelled = Você cancelou esta imagem.

## Erros de validação (visíveis só para você)

error-prompt-empty = Me dê algo para desenhar: o prompt está vazio.
error-prompt-too-long = Esse prompt tem { $length } caracteres; o limite é { $max }. Encurte-o, por favor.
error-prompt-control = O prompt contém caracteres de controle invisíveis. Digite-o novamente como texto simples.
error-negative-too-long = O prompt negativo tem { $length } caracteres; o limite é { $max }.
error-negative-control = O prompt negativo contém caracteres de controle invisíveis. Digite-o novamente como texto simples.
error-prompt-cluster = O prompt tem um caractere com dezenas de marcas empilhadas. Digite-o novamente como texto simples.
error-negative-cluster = O prompt negativo tem um caractere com dezenas de marcas empilhadas. Digite-o novamente como texto simples.
error-negative-empty = O prompt negativo fica vazio depois que os espaços e os caracteres invisíveis são removidos.
error-seed-range = A semente deve ser um número inteiro de 0 a 4294967295.
error-prompt-blocked = Desculpe, não posso desenhar isso: o prompt vai contra as regras deste servidor ou do zipp.
error-limit-member-active = Você já tem { $limit } imagens em andamento. Espere uma terminar e tente de novo.
error-limit-member-hourly = Você iniciou { $limit } imagens na última hora, o máximo permitido. Poderá iniciar outra { $retry }.
error-limit-server-active = Este servidor já tem { $limit } imagens em andamento. Tente de novo em alguns minutos.
error-limit-server-hourly = Este servidor iniciou { $limit } imagens na última hora, o máximo permitido. Outra poderá começar { $retry }.
error-count-range = A quantidade deve ser de 1 a { $max }.
error-compare-count = Uma comparação é um par de imagens: deixe a quantidade em 1 com persona: comparar.
error-model-not-allowed = Este servidor não oferece esse modelo. Você pode escolher: { $models }.
error-limit-count = São mais imagens do que podem começar em uma hora aqui (no máximo { $limit }). Peça menos, por favor.
error-model-unavailable = O modelo de imagem que este servidor usa não está disponível agora. Um moderador pode escolher outro.

## Falhas na geração (mostradas na resposta)

render-error-internal = Desculpe, a geração falhou depois de várias tentativas. Tente novamente mais tarde.
render-error-crashed = Desculpe, o gerador parou enquanto trabalhava nesta imagem. Tente novamente.
render-error-model-unavailable = Desculpe, não foi possível carregar o modelo de imagem deste servidor. Um moderador precisa verificar a configuração.
render-error-invalid-size = Desculpe, este modelo não consegue gerar imagens nesse tamanho.
render-error-too-large = Desculpe, uma imagem tão grande não cabe na memória do gerador. Tente um tamanho menor ou outro formato.
render-error-source-gone = Desculpe, a imagem de partida não é mais guardada. Refazer ainda funciona.
render-error-timeout = Desculpe, esta imagem demorou demais, então eu a interrompi. Tente de novo mais tarde.
imagine-withheld = A verificação de segurança marcou esta imagem, então ela não foi postada aqui. Tente outro prompt ou outra seed.

## Geral

error-internal = Algo deu errado do meu lado. A equipe já foi avisada; tente novamente mais tarde.

## /config (moderadores)

config = config
    .description = Configure o zipp para este servidor (moderadores)
config-show = ver
    .description = Veja as configurações deste servidor
config-llm = llm
    .description = Escolha o LLM que reescreve os prompts
    .name = nome
    .name-description = Um modelo do catálogo do operador
config-diffusion = difusão
    .description = Escolha o modelo de difusão que gera as imagens
    .name = nome
    .name-description = Um modelo do catálogo do operador
    .role = papel
    .role-description = O modelo do servidor (padrão), um que os membros podem escolher, ou tirá-lo
    .role-default = padrão — o modelo do servidor
    .role-allow = permitir — os membros podem escolhê-lo
    .role-remove = remover — os membros não podem mais escolhê-lo
config-persona = persona
    .description = Ative ou desative a inferência de personas neste servidor
    .state = estado
    .state-description = ativado ou desativado
    .state-on = ativado
    .state-off = desativado
config-backfill = historico
    .description = O consentimento também cobre a atividade dos últimos dias aqui
    .state = estado
    .state-description = ativado ou desativado
    .state-on = ativado
    .state-off = desativado
config-metadata = metadados
    .description = Gravar a semente, o modelo, os passos e o prompt de cada imagem no seu PNG
    .state = estado
    .state-description = ativado ou desativado
    .state-on = ativado
    .state-off = desativado
config-default = padrão
config-settings = Configurações deste servidor — modelo de difusão: { $diffusion }; LLM: { $llm }; inferência de personas: { $persona }; recuperação do histórico: { $backfill }; metadados das imagens: { $metadata }; modelos que os membros podem escolher: { $choices }.
config-changed = { $setting } agora é { $value }. A alteração está no registro de auditoria.
config-diffusion-choices = Os membros podem escolher estes modelos com /imagine model: { $models }. A mudança está no registro de auditoria.
config-name-diffusion = O modelo de difusão
config-name-llm = O LLM
config-name-persona = A inferência de personas
config-name-backfill = A recuperação do histórico
config-name-metadata = Os metadados das imagens
config-value-on = ativado
config-value-off = desativado
config-limits = limites
    .description = Apertar os limites do /imagine neste servidor (nunca acima dos do operador)
    .member_active = membro_ao_mesmo_tempo
    .member_active-description = Imagens que um membro pode ter em andamento ao mesmo tempo
    .member_hourly = membro_por_hora
    .member_hourly-description = Imagens que um membro pode iniciar por hora
    .server_active = servidor_ao_mesmo_tempo
    .server_active-description = Imagens que o servidor todo pode ter em andamento ao mesmo tempo
    .server_hourly = servidor_por_hora
    .server_hourly-description = Imagens que o servidor todo pode iniciar por hora
config-blocklist = lista_bloqueio
    .description = Palavras e frases que este servidor recusa nos prompts
config-blocklist-add = adicionar
    .description = Recusar prompts que contenham esta palavra ou frase
    .phrase = frase
    .phrase-description = Uma palavra ou frase (maiúsculas e caracteres invisíveis são ignorados)
config-blocklist-remove = remover
    .description = Parar de recusar prompts que contenham esta palavra ou frase
    .phrase = frase
    .phrase-description = Uma palavra ou frase da lista
config-blocklist-list = ver
    .description = Ver a lista de bloqueio deste servidor
config-audit = registro
    .description = Ver as últimas mudanças nas configurações deste servidor
config-limits-now = Limites neste servidor — por membro: { $member_active } ao mesmo tempo, { $member_hourly } por hora; servidor todo: { $server_active } ao mesmo tempo, { $server_hourly } por hora. As mudanças estão no registro.
config-name-member-active = O limite por membro ao mesmo tempo
config-name-member-hourly = O limite por membro por hora
config-name-server-active = O limite do servidor ao mesmo tempo
config-name-server-hourly = O limite do servidor por hora
config-blocklist-added = Adicionado à lista de bloqueio: prompts com isso são recusados a partir de agora. A mudança está no registro.
config-blocklist-already = Essa frase já está na lista de bloqueio.
config-blocklist-removed = Removido da lista de bloqueio. A mudança está no registro.
config-blocklist-absent = Essa frase não está na lista de bloqueio.
config-blocklist-empty = A lista de bloqueio deste servidor está vazia. Uma lista embutida, que nenhum servidor pode desligar, continua valendo.
config-blocklist-shown = Lista de bloqueio ({ $count }): { $phrases }
config-audit-empty = Nenhuma configuração foi alterada neste servidor ainda.
config-audit-title = Últimas mudanças, as mais recentes primeiro:
config-audit-entry = { $when } — { $who } mudou { $setting }: { $old } → { $new }
config-audit-someone = um membro que pediu para ser esquecido
config-nsfw = nsfw
    .description = O que acontece com imagens marcadas pela verificação de segurança em canais adultos
    .policy = regra
    .policy-description = Nunca são postadas fora de canais adultos, seja qual for a escolha
    .policy-block = bloquear
    .policy-spoiler = spoiler
    .policy-allow = permitir
config-name-nsfw = Imagens marcadas em canais adultos
config-value-nsfw-block = bloqueadas
config-value-nsfw-spoiler = atrás de um spoiler
config-value-nsfw-allow = permitidas

## Erros do /config

error-unknown-llm = Esse LLM não está no catálogo (ou não está disponível para servidores). Escolha um da lista.
error-unknown-diffusion = Esse modelo de difusão não está no catálogo (ou não está disponível para servidores). Escolha um da lista.
error-guild-only = Este comando só funciona dentro de um servidor.
error-missing-permission = Você precisa da permissão “Gerenciar servidor” para usar este comando.
error-limit-above-operator = Servidores só podem apertar os limites: cada valor deve estar entre 1 e { $max }.
error-blocklist-empty = Essa frase fica vazia sem espaços, pontuação e caracteres invisíveis.
error-blocklist-too-long = Essa frase é longa demais; o limite é de 100 caracteres.
error-blocklist-full = A lista de bloqueio está cheia ({ $max } frases). Remova uma primeiro.

## /persona (cada resposta é visível só para o próprio membro)

persona = persona
    .description = Sua persona neste servidor: veja, edite, atualize; consentimento e seus dados
persona-consent = consentimento
    .description = Permita ou impeça que o zipp aprenda seu gosto com a sua atividade aqui
    .state = estado
    .state-description = ativado: permitir; desativado: parar e apagar o que foi registrado
    .state-on = ativado
    .state-off = desativado
persona-add-image = adicionar-imagem
    .description = Adicione uma imagem que você ama: ela mostra ao zipp o seu gosto
    .image = imagem
    .image-description = Uma imagem PNG, JPEG ou WebP
persona-forget = esquecer
    .description = Apague tudo o que o zipp guarda sobre você neste servidor
persona-consent-prompt = Quer imagens do seu gosto? Se você aceitar, o zipp registra *em quais* canais você publica e reage, quais cargos você tem e a quem você responde ou menciona (somente membros que também aceitaram) — nunca o que você escreve. A partir disso, ele infere uma persona curta que só você pode ver e editar, e a usa para reescrever seus prompts do /imagine. Você pode parar quando quiser com /persona consentimento desativado e apagar tudo com /persona esquecer.
persona-consent-prompt-backfill = Neste servidor, aceitar também registra esses mesmos metadados das suas mensagens dos últimos { $days } dias.
persona-consent-accept = Aceitar
persona-consent-later = Agora não
persona-consent-on = Obrigado! O zipp vai aprender seu gosto com a sua atividade neste servidor. Você pode parar quando quiser com /persona consentimento desativado.
persona-consent-already = Você já permitiu que o zipp aprenda seu gosto neste servidor, então nada mudou. Você pode parar quando quiser com /persona consentimento desativado.
persona-consent-off = Pronto: o zipp não registra mais sua atividade aqui. Apagado: contagens de interação { $interactions } · reações às suas imagens { $feedback } · imagens { $images } · escolhas em comparações { $picks } · personas inferidas { $personas }. As personas que você escreveu continuam.
persona-consent-later-ack = Sem problemas: nada da sua atividade é registrado. Você pode aceitar depois com /persona consentimento ativado.
persona-forget-confirm = Isso apaga tudo o que o zipp guarda sobre você neste servidor: atividade registrada, personas, suas escolhas nas comparações, suas imagens geradas (as pendentes são canceladas) e seu consentimento. Não é possível desfazer.
persona-forget-button = Apagar tudo
persona-forgotten = Pronto: tudo o que o zipp guardava sobre você neste servidor foi apagado.
persona-show = ver
    .description = Veja sua persona aqui: o texto, de onde ela veio e por quê
persona-edit = editar
    .description = Escreva ou altere sua persona por conta própria
persona-setup = configurar
    .description = Responda a quatro perguntas curtas para montar sua persona
persona-reset = redefinir
    .description = Descarte sua própria versão e volte para a persona inferida
persona-refresh = atualizar
    .description = Faça o zipp inferir sua persona de novo a partir da sua atividade recente
persona-history = histórico
    .description = Versões anteriores da sua persona; restaure uma delas

## /persona ver, editar, configurar, redefinir, atualizar, histórico

persona-none = Você ainda não tem uma persona neste servidor. Escreva uma com /persona editar, responda a quatro perguntas curtas com /persona configurar ou — se você permitiu com /persona consentimento ativado — deixe o zipp inferir uma com /persona atualizar.
persona-show-header = **Sua persona** — versão { $version }, { $source }, { $date }
persona-source-inferred = inferida da sua atividade
persona-source-edited = escrita por você
persona-source-questionnaire = das suas respostas ao /persona configurar
persona-show-pinned = Sua própria versão continua em uso, mesmo quando o zipp infere uma nova, até você usar /persona redefinir.
persona-show-evidence = Por quê: os canais que mais pesaram foram { $channels }.
persona-show-evidence-roles = Cargos que contaram: { $roles }.
persona-show-evidence-prompts = Também foram usados { $count } dos seus prompts recentes do /imagine.
persona-show-evidence-liked = Imagens de que você gostou (com uma reação ou escolhidas em comparações): { $count }.
persona-show-evidence-image-taste = O estilo das imagens com que membros como você interagem aqui, segundo onde o codificador de persona situa você: { $looks }.
persona-show-private = Só você pode ver isto. O /imagine a usa para reescrever seus prompts (ignore-a com persona: desativado).
persona-button-edit = Editar
persona-button-history = Histórico
persona-not-yours = Só o membro que criou esta imagem pode abrir a persona usada nela.
persona-gone = Essa versão da persona não existe mais.

persona-edit-title = Sua persona
persona-edit-label = Quem você é e o que gosta de ver
persona-edit-placeholder = Sou … e adoro … Minhas imagens favoritas são …
persona-setup-title = Conte ao zipp sobre você
persona-setup-who = Quem é você?
persona-setup-who-placeholder = ex.: uma enfermeira do turno da noite de Lyon
persona-setup-work = O que você faz?
persona-setup-work-placeholder = ex.: restauro bicicletas antigas e desenho quadrinhos
persona-setup-love = O que você ama?
persona-setup-love-placeholder = ex.: jazz, cidades na chuva, meus dois gatos
persona-setup-visual = De que imagens você gosta?
persona-setup-visual-placeholder = ex.: cores suaves, granulação de filme, ruas tranquilas ao entardecer
persona-questionnaire-who = Eu sou { $answer }.
persona-questionnaire-work = O que eu faço: { $answer }.
persona-questionnaire-love = Eu amo { $answer }.
persona-questionnaire-visual = Visualmente, eu gosto de { $answer }.
persona-saved = Salvo: sua persona agora é a versão { $version }, e o /imagine vai usá-la a partir do seu próximo prompt. Só você pode vê-la.
error-persona-empty = Essa persona fica vazia depois que os espaços, os caracteres invisíveis e as menções são removidos. Escreva algumas palavras sobre você.
error-persona-too-long = Essa persona tem { $length } caracteres; o limite é { $max }. Aqui está o que você escreveu, para que possa encurtá-la:
error-persona-control = Essa persona contém caracteres de controle invisíveis, então não a salvei. Aqui está o que você escreveu, para digitar de novo como texto simples.
error-persona-cluster = Essa persona tem um caractere com dezenas de marcas empilhadas, então não a salvei. Aqui está o que você escreveu, para digitar de novo como texto simples.
error-answer-control = Uma das suas respostas contém caracteres de controle invisíveis, então não a salvei. Aqui está o que você escreveu, para digitar de novo como texto simples.
error-answer-cluster = Uma das suas respostas tem um caractere com dezenas de marcas empilhadas, então não a salvei. Aqui está o que você escreveu, para digitar de novo como texto simples.
error-answer-too-long = Uma das suas respostas tem { $length } caracteres; o limite é { $max }. Aqui está o que você escreveu, para poder encurtar:
error-answer-empty = Essa resposta fica vazia depois que os espaços, os caracteres invisíveis e as menções são removidos.

persona-reset-done = De volta à persona inferida (versão { $version }); o /imagine passa a usá-la a partir de agora.
persona-reset-none = Ainda não há uma persona inferida para a qual voltar, então sua persona atual continua. O /persona atualizar pede ao zipp que infira uma.
persona-reset-already = Você já está usando a persona inferida.
persona-refresh-done = Pronto: o zipp inferiu uma nova persona para você (versão { $version }). Veja-a com /persona ver.
persona-refresh-kept = Pronto: o zipp inferiu uma nova persona (versão { $version }), mas sua própria versão continua em uso até você usar /persona redefinir.
persona-refresh-cooldown = Você atualizou sua persona há pouco tempo. Poderá atualizar de novo em { $minutes } min.
persona-refresh-no-consent = O zipp só pode inferir uma persona a partir da sua atividade se você permitir: /persona consentimento ativado. Você também pode escrever uma com /persona editar.
persona-refresh-disabled = Os moderadores desativaram a inferência de personas neste servidor. Você ainda pode escrever sua própria persona com /persona editar ou /persona configurar.
persona-refresh-unavailable = A inferência de personas não está disponível agora (nenhum modelo treinado está carregado). Você ainda pode escrever sua própria persona com /persona editar ou /persona configurar.
persona-refresh-no-activity = O zipp ainda não viu atividade suficiente sua aqui para inferir uma persona. Publique e reaja um pouco e tente de novo — ou escreva uma por conta própria com /persona editar.
persona-history-header = Suas versões de persona, da mais recente para a mais antiga:
persona-history-line = **v{ $version }** · { $source } · { $date }{ $active } — { $excerpt }
persona-history-in-use = (em uso)
persona-history-pick = Restaurar uma versão…
persona-history-option = Versão { $version } ({ $source })
persona-restored = Versão { $version } restaurada; o /imagine passa a usá-la a partir de agora.

## /persona add-image

persona-image-added = Adicionada: esta imagem agora conta para o seu gosto. Só o embedding CLIP dela é guardado, não a imagem; /persona esquecer apaga.
error-image-no-consent = As imagens que você adiciona contam para a sua persona, então o zipp precisa antes do seu consentimento: /persona consentimento ativado.
error-image-inference-off = A moderação deste servidor desativou o aprendizado de personas, então não é possível adicionar imagens aqui.
error-image-unavailable = Adicionar imagens não está disponível neste bot agora (nenhum modelo de imagem está configurado).
error-image-type = Esse arquivo não é uma imagem PNG, JPEG ou WebP. Anexe uma delas, por favor.
error-image-too-large = Esse arquivo é grande demais; o limite é { $max } MB.
error-image-too-many-pixels = Essa imagem tem pixels demais; o limite é { $max } megapixels.
error-image-unreadable = Não consegui ler essa imagem: ela pode estar truncada ou danificada. Tente outro arquivo, por favor.

## /settings

settings = preferencias
    .description = Seus padrões para /imagine neste servidor
    .aspect = formato
    .aspect-description = O formato das suas imagens quando você não informar nenhum
    .aspect-square = 1:1 quadrado
    .aspect-landscape = 4:3 paisagem
    .aspect-portrait = 3:4 retrato
    .aspect-photo = 3:2 foto
    .aspect-photo-portrait = 2:3 foto, vertical
    .aspect-wide = 16:9 largo
    .aspect-tall = 9:16 alto
    .persona = persona
    .persona-description = Se a sua persona reescreve seus prompts quando você não disser
    .persona-on = ativada
    .persona-off = desativada
    .count = quantidade
    .count-description = Quantas imagens o /imagine faz quando você não indica a quantidade
    .reset = redefinir
    .reset-description = Esquecer seus padrões
settings-shown = Seus padrões neste servidor — formato: { $aspect }; persona: { $persona }; imagens: { $count }. As opções de /imagine têm prioridade.
settings-aspect-model = o do modelo
settings-persona-on = ativada
settings-persona-off = desativada
settings-reset-done = Seus padrões foram apagados: /imagine volta a usar o formato do modelo e a sua persona.
