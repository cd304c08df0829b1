# zipp — español (España). Aquí están todos los textos de los comandos de barra y todas las respuestas.
# Los metadatos de los comandos siguen la convención de poise: `command = name`, `.description`,
# `.PARAM = name`, `.PARAM-description`. Nombres: minúsculas, 32 caracteres como máximo;
# descripciones: 100 caracteres como máximo.

## Comandos

imagine = imagine
    .description = Genera una imagen a partir de tu prompt
    .prompt = prompt
    .prompt-description = Qué quieres que dibuje
    .seed = semilla
    .seed-description = Semilla para obtener una imagen reproducible (de 0 a 4294967295)
    .negative = negativo
    .negative-description = Lo que no debe aparecer en la imagen
    .persona = persona
    .persona-description = Usa tu persona (activado), omítela (desactivado) o compara ambas versiones lado a lado
    .persona-on = activado
    .persona-off = desactivado
    .persona-compare = comparar
    .aspect = formato
    .aspect-description = La forma de la imagen (por defecto: la del modelo)
    .aspect-square = 1:1 cuadrado
    .aspect-landscape = 4:3 horizontal
    .aspect-portrait = 3:4 vertical
    .aspect-photo = 3:2 foto
    .aspect-photo-portrait = 2:3 foto, vertical
    .aspect-wide = 16:9 panorámico
    .aspect-tall = 9:16 alto
    .count = cantidad
    .count-description = Cuántas imágenes, mostradas en una cuadrícula (de 1 a 4)
    .model = modelo
    .model-description = Un modelo que ofrece este servidor (por defecto: el del servidor)

## Respuestas de /imagine

imagine-queued = En cola: posición { $position }. Actualizaré este mensaje mientras se genera la imagen.
imagine-rendering = Generando: paso { $step }/{ $total }…
imagine-rendering-started = Generando…
imagine-done = Listo en { $seconds } s.
imagine-result = Aquí tienes tu imagen.
imagine-result-grid = Aquí tienes tus { $count } imágenes. U amplía una de ellas, V crea variaciones de ella.
imagine-upscale-cell-button = U{ $n }
imagine-vary-cell-button = V{ $n }
imagine-late-delivery = Esta imagen ha tardado más de lo que Discord me permite para editar la respuesta original, así que aquí la tienes.
imagine-downscaled = La imagen se ha reducido a { $width }×{ $height } para ajustarse al límite de subida de este servidor.
imagine-too-large = La imagen es demasiado grande para el límite de subida de este servidor, así que no se ha podido adjuntar.
imagine-field-prompt = Prompt
imagine-field-rendered = Prompt generado
imagine-field-model = Modelo
imagine-field-seed = Semilla
imagine-field-time = Tiempo
imagine-field-rewrite = Reescritura
imagine-field-persona = Persona
imagine-persona-version = versión { $version } ({ $source })
imagine-persona-button = Abrir mi persona
imagine-reroll-button = Repetir
imagine-again-not-yours = Solo el miembro que creó esta imagen puede hacer otras nuevas a partir de ella.
imagine-plain-button = Sin persona
imagine-vary-subtle-button = Variar (sutil)
imagine-vary-strong-button = Variar (fuerte)
imagine-upscale-button = Ampliar ×2
imagine-derive-gone = Esta imagen ya no se conserva, así que no se puede variar ni ampliar. Repetir sigue funcionando.
imagine-derive-unavailable = Una comparación lado a lado no se puede variar ni ampliar. Elige un lado y luego repite.
imagine-info-button = Info
imagine-info = **Sobre esta imagen** — modelo { $model }, semilla { $seed }, { $steps } pasos, { $width }×{ $height }.
    Prompt escrito: { $prompt }
    Prompt renderizado: { $rendered }
    Prompt negativo: { $negative }
    Persona: { $persona }
imagine-info-derived = Hecha a partir de la imagen { $parent } con «{ $how }».
imagine-info-none = ninguno
imagine-info-not-yours = Solo el miembro que creó esta imagen puede ver sus detalles.
imagine-info-gone = Los detalles de esta imagen ya no se conservan.
imagine-field-left = Izquierda
imagine-field-right = Derecha
imagine-compare-result = Misma semilla, dos prompts: uno reescrito para tu persona y otro tal como lo has escrito. ¿Cuál prefieres?

## Modo de comparación

compare-left-better = La de la izquierda es mejor
compare-right-better = La de la derecha es mejor
compare-not-yours = Solo el miembro que pidió esta imagen puede elegir.
compare-already-picked = Ya has elegido en esta imagen; cuenta tu primera elección.
compare-unknown = Esa comparación ya no existe.
compare-pick-not-kept = Gracias: tu elección se muestra, pero no se guarda; zipp solo guarda las elecciones de quienes le permiten aprender (/persona consentimiento activado).
error-compare-needs-persona = El modo de comparación necesita una persona, y todavía no tienes ninguna en este servidor.

## /stats

stats = estadísticas
    .description = Con qué frecuencia los miembros de aquí han preferido la imagen con su persona
stats-none = Todavía no hay comparaciones. Prueba /imagine con persona: comparar y elige la imagen que prefieras.
stats-win-rate = Las imágenes con persona han ganado el { $rate } % de { $n } comparaciones ({ $wins } victorias; intervalo del 95 %: { $low }–{ $high } %).
stats-refusals = Solicitudes rechazadas: { $total } ({ $limits } por los límites, { $blocklist } por la lista de bloqueo del servidor, { $builtin } por la lista integrada, { $safety } imágenes retenidas por el control de seguridad).

queue = cola
    .description = Tus imágenes en curso: su lugar en la cola, la hora estimada y botones Cancelar
queue-empty = No tienes imágenes en curso aquí.
queue-rendering = renderizando, paso { $step } de { $total }
queue-waiting = esperando, puesto { $position } en la cola
queue-waiting-eta = esperando, puesto { $position } en la cola, lista { $eta }
queue-cancel = Cancelar { $number }
queue-server = Este servidor tiene { $here } imágenes en curso ({ $everywhere } en todo el bot).
queue-cancelled = Cancelada.
queue-not-cancelled = Esa imagen ya no está en curso (o no es tuya), así que no se canceló nada.
render-cancelled = Cancelaste esta imagen.

## Errores de validación (solo los ves tú)

error-prompt-empty = Dame algo que dibujar: el prompt está vacío.
error-prompt-too-long = Ese prompt tiene { $length } caracteres; el límite es { $max }. Acórtalo, por favor.
error-prompt-control = El prompt contiene caracteres de control invisibles. Vuelve a escribirlo como texto sin formato.
error-negative-too-long = El prompt negativo tiene { $length } caracteres; el límite es { $max }.
error-negative-control = El prompt negativo contiene caracteres de control invisibles. Vuelve a escribirlo como texto sin formato.
error-prompt-cluster = El prompt tiene un carácter con decenas de marcas apiladas. Vuelve a escribirlo como texto sin formato.
error-negative-cluster = El prompt negativo tiene un carácter con decenas de marcas apiladas. Vuelve a escribirlo como texto sin formato.
error-negative-empty = El prompt negativo queda vacío al quitar los espacios y los caracteres invisibles.
error-seed-range = La semilla debe ser un número entero de 0 a 4294967295.
error-prompt-blocked = Lo siento, no puedo dibujar eso: el prompt va contra las normas de este servidor o de zipp.
error-limit-member-active = Ya tienes { $limit } imágenes en curso. Espera a que termine una y vuelve a intentarlo.
error-limit-member-hourly = Has iniciado { $limit } imágenes en la última hora, el máximo permitido. Podrás iniciar otra { $retry }.
error-limit-server-active = Este servidor ya tiene { $limit } imágenes en curso. Vuelve a intentarlo en unos minutos.
error-limit-server-hourly = Este servidor ha iniciado { $limit } imágenes en la última hora, el máximo permitido. Podrá iniciarse otra { $retry }.
error-count-range = La cantidad debe estar entre 1 y { $max }.
error-compare-count = Una comparación es un par de imágenes: deja la cantidad en 1 con persona: comparar.
error-model-not-allowed = Este servidor no ofrece ese modelo. Puedes elegir: { $models }.
error-limit-count = Son más imágenes de las que pueden iniciarse en una hora aquí (como máximo { $limit }). Pide menos, por favor.
error-model-unavailable = El modelo de imagen que usa este servidor no está disponible en este momento. Un moderador puede elegir otro.

## Fallos de generación (se muestran en la respuesta)

render-error-internal = Lo siento, la generación ha fallado tras varios intentos. Vuelve a intentarlo más tarde.
render-error-crashed = Lo siento, el generador se ha detenido mientras trabajaba en esta imagen. Vuelve a intentarlo.
render-error-model-unavailable = Lo siento, no se ha podido cargar el modelo de imagen de este servidor. Un moderador tiene que revisar la configuración.
render-error-invalid-size = Lo siento, este modelo no puede generar imágenes de ese tamaño.
render-error-too-large = Lo siento, una imagen tan grande no cabe en la memoria del generador. Prueba con un tamaño menor u otro formato.
render-error-source-gone = Lo siento, la imagen de partida ya no se conserva. Repetir sigue funcionando.
render-error-timeout = Lo siento, esta imagen tardaba demasiado, así que la detuve. Vuelve a intentarlo más tarde.
imagine-withheld = El control de seguridad marcó esta imagen, así que no se publicó aquí. Prueba otro prompt u otra semilla.

## General

error-internal = Algo ha salido mal por mi parte. Ya se ha avisado al equipo; vuelve a intentarlo más tarde.

## /config (moderadores)

config = config
    .description = Configura zipp para este servidor (moderadores)
config-show = ver
    .description = Muestra los ajustes de este servidor
config-llm = llm
    .description = Elige el LLM que reescribe los prompts
    .name = nombre
    .name-description = Un modelo del catálogo del operador
config-diffusion = difusión
    .description = Elige el modelo de difusión que genera las imágenes
    .name = nombre
    .name-description = Un modelo del catálogo del operador
    .role = papel
    .role-description = El modelo del servidor (por defecto), uno que los miembros pueden elegir, o quitarlo
    .role-default = por defecto — el modelo del servidor
    .role-allow = permitir — los miembros pueden elegirlo
    .role-remove = quitar — los miembros ya no pueden elegirlo
config-persona = persona
    .description = Activa o desactiva la inferencia de personas en este servidor
    .state = estado
    .state-description = activado o desactivado
    .state-on = activado
    .state-off = desactivado
config-backfill = historial
    .description = El consentimiento también cubre la actividad de los últimos días aquí
    .state = estado
    .state-description = activado o desactivado
    .state-on = activado
    .state-off = desactivado
config-metadata = metadatos
    .description = Escribir la semilla, el modelo, los pasos y el prompt de cada imagen en su PNG
    .state = estado
    .state-description = activado o desactivado
    .state-on = activado
    .state-off = desactivado
config-default = predeterminado
config-settings = Ajustes de este servidor — modelo de difusión: { $diffusion }; LLM: { $llm }; inferencia de personas: { $persona }; recuperación del historial: { $backfill }; metadatos de las imágenes: { $metadata }; modelos que los miembros pueden elegir: { $choices }.
config-changed = { $setting } ahora es { $value }. El cambio queda en el registro de auditoría.
config-diffusion-choices = Los miembros pueden elegir estos modelos con /imagine model: { $models }. El cambio está en el registro de auditoría.
config-name-diffusion = El modelo de difusión
config-name-llm = El LLM
config-name-persona = La inferencia de personas
config-name-backfill = La recuperación del historial
config-name-metadata = Los metadatos de las imágenes
config-value-on = activado
config-value-off = desactivado
config-limits = limites
    .description = Endurecer los límites de /imagine en este servidor (nunca por encima del operador)
    .member_active = miembro_a_la_vez
    .member_active-description = Imágenes que un miembro puede tener en curso a la vez
    .member_hourly = miembro_por_hora
    .member_hourly-description = Imágenes que un miembro puede iniciar por hora
    .server_active = servidor_a_la_vez
    .server_active-description = Imágenes que todo el servidor puede tener en curso a la vez
    .server_hourly = servidor_por_hora
    .server_hourly-description = Imágenes que todo el servidor puede iniciar por hora
config-blocklist = lista_bloqueo
    .description = Palabras y frases que este servidor rechaza en los prompts
config-blocklist-add = añadir
    .description = Rechazar los prompts que contengan esta palabra o frase
    .phrase = frase
    .phrase-description = Una palabra o frase (se ignoran mayúsculas y caracteres invisibles)
config-blocklist-remove = quitar
    .description = Dejar de rechazar los prompts que contengan esta palabra o frase
    .phrase = frase
    .phrase-description = Una palabra o frase de la lista
config-blocklist-list = ver
    .description = Ver la lista de bloqueo de este servidor
config-audit = registro
    .description = Ver los últimos cambios en los ajustes de este servidor
config-limits-now = Límites en este servidor — por miembro: { $member_active } a la vez, { $member_hourly } por hora; todo el servidor: { $server_active } a la vez, { $server_hourly } por hora. Los cambios están en el registro.
config-name-member-active = El límite por miembro a la vez
config-name-member-hourly = El límite por miembro por hora
config-name-server-active = El límite del servidor a la vez
config-name-server-hourly = El límite del servidor por hora
config-blocklist-added = Añadido a la lista de bloqueo: desde ahora se rechazan los prompts que lo contengan. El cambio está en el registro.
config-blocklist-already = Esa frase ya está en la lista de bloqueo.
config-blocklist-removed = Quitado de la lista de bloqueo. El cambio está en el registro.
config-blocklist-absent = Esa frase no está en la lista de bloqueo.
config-blocklist-empty = La lista de bloqueo de este servidor está vacía. Sigue aplicándose una lista integrada que ningún servidor puede desactivar.
config-blocklist-shown = Lista de bloqueo ({ $count }): { $phrases }
config-audit-empty = Aún no se ha cambiado ningún ajuste en este servidor.
config-audit-title = Últimos cambios, los más recientes primero:
config-audit-entry = { $when } — { $who } cambió { $setting }: { $old } → { $new }
config-audit-someone = un miembro que pidió ser olvidado
config-nsfw = nsfw
    .description = Qué pasa con las imágenes marcadas por el control de seguridad en canales para adultos
    .policy = regla
    .policy-description = Nunca se publican fuera de canales para adultos, elijas lo que elijas
    .policy-block = bloquear
    .policy-spoiler = spoiler
    .policy-allow = permitir
config-name-nsfw = Las imágenes marcadas en canales para adultos
config-value-nsfw-block = bloqueadas
config-value-nsfw-spoiler = tras un spoiler
config-value-nsfw-allow = permitidas

## Errores de /config

error-unknown-llm = Ese LLM no está en el catálogo (o no está disponible para servidores). Elige uno de la lista.
error-unknown-diffusion = Ese modelo de difusión no está en el catálogo (o no está disponible para servidores). Elige uno de la lista.
error-guild-only = Este comando solo funciona dentro de un servidor.
error-missing-permission = Necesitas el permiso «Gestionar servidor» para usar este comando.
error-limit-above-operator = Los servidores solo pueden endurecer los límites: cada valor debe estar entre 1 y { $max }.
error-blocklist-empty = Esa frase queda vacía al quitar espacios, puntuación y caracteres invisibles.
error-blocklist-too-long = Esa frase es demasiado larga; el límite es de 100 caracteres.
error-blocklist-full = La lista de bloqueo está llena ({ $max } frases). Quita una primero.

## /persona (cada respuesta solo la ve el propio miembro)

persona = persona
    .description = Tu persona en este servidor: verla, editarla, actualizarla; consentimiento y tus datos
persona-consent = consentimiento
    .description = Permite o impide que zipp aprenda tus gustos a partir de tu actividad aquí
    .state = estado
    .state-description = activado: permitir; desactivado: parar y borrar lo registrado
    .state-on = activado
    .state-off = desactivado
persona-add-image = añadir-imagen
    .description = Añade una imagen que te encante: le muestra a zipp tu gusto
    .image = imagen
    .image-description = Una imagen PNG, JPEG o WebP
persona-forget = olvidar
    .description = Borra todo lo que zipp guarda sobre ti en este servidor
persona-consent-prompt = ¿Quieres imágenes a tu gusto? Si aceptas, zipp registra *en qué* canales publicas y reaccionas, qué roles tienes y a quién respondes o mencionas (solo miembros que también hayan aceptado), pero nunca lo que escribes. A partir de eso infiere una persona breve que solo tú puedes ver y editar, y la usa para reescribir tus prompts de /imagine. Puedes parar cuando quieras con /persona consentimiento desactivado y borrarlo todo con /persona olvidar.
persona-consent-prompt-backfill = En este servidor, aceptar también registra esos mismos metadatos de tus mensajes de los últimos { $days } días.
persona-consent-accept = Aceptar
persona-consent-later = Ahora no
persona-consent-on = ¡Gracias! zipp aprenderá tus gustos a partir de tu actividad en este servidor. Puedes parar cuando quieras con /persona consentimiento desactivado.
persona-consent-already = Ya permitiste que zipp aprenda tus gustos en este servidor, así que nada ha cambiado. Puedes parar cuando quieras con /persona consentimiento desactivado.
persona-consent-off = Hecho: zipp ya no registra tu actividad aquí. Borrado: recuentos de interacción { $interactions } · reacciones a tus imágenes { $feedback } · imágenes { $images } · elecciones en comparaciones { $picks } · personas inferidas { $personas }. Las personas que escribiste tú se quedan.
persona-consent-later-ack = No pasa nada: no se registra nada de tu actividad. Puedes aceptar más adelante con /persona consentimiento activado.
persona-forget-confirm = Esto borra todo lo que zipp guarda sobre ti en este servidor: la actividad registrada, las personas, tus elecciones en las comparaciones, tus imágenes generadas (las pendientes se cancelan) y tu consentimiento. No se puede deshacer.
persona-forget-button = Borrar todo
persona-forgotten = Hecho: se ha borrado todo lo que zipp guardaba sobre ti en este servidor.
persona-show = ver
    .description = Muestra tu persona aquí: su texto, de dónde ha salido y por qué
persona-edit = editar
    .description = Escribe o cambia tu persona por tu cuenta
persona-setup = configurar
    .description = Responde a cuatro preguntas breves para crear tu persona
persona-reset = restablecer
    .description = Descarta tu propia versión y vuelve a la persona inferida
persona-refresh = actualizar
    .description = Vuelve a inferir tu persona a partir de tu actividad reciente
persona-history = historial
    .description = Versiones anteriores de tu persona; restaura una

## /persona ver, editar, configurar, restablecer, actualizar, historial

persona-none = Todavía no tienes una persona en este servidor. Escribe una con /persona editar, responde a cuatro preguntas breves con /persona configurar o, si lo has permitido con /persona consentimiento activado, deja que zipp infiera una con /persona actualizar.
persona-show-header = **Tu persona** — versión { $version }, { $source }, { $date }
persona-source-inferred = inferida de tu actividad
persona-source-edited = escrita por ti
persona-source-questionnaire = a partir de tus respuestas a /persona configurar
persona-show-pinned = Tu propia versión sigue en uso, aunque zipp infiera una nueva, hasta que ejecutes /persona restablecer.
persona-show-evidence = Por qué: los canales que más han pesado son { $channels }.
persona-show-evidence-roles = Roles que han contado: { $roles }.
persona-show-evidence-prompts = También se han usado { $count } de tus prompts recientes de /imagine.
persona-show-evidence-liked = Imágenes que te gustaron (con una reacción o elegidas en comparaciones): { $count }.
persona-show-evidence-image-taste = El estilo de las imágenes con las que interactúan aquí miembros como tú, según dónde te sitúa el codificador de personas: { $looks }.
persona-show-private = Solo tú puedes ver esto. /imagine la usa para reescribir tus prompts (omítela con persona: desactivado).
persona-button-edit = Editar
persona-button-history = Historial
persona-not-yours = Solo el miembro que creó esta imagen puede abrir la persona que se usó.
persona-gone = Esa versión de la persona ya no existe.

persona-edit-title = Tu persona
persona-edit-label = Quién eres y qué te gusta ver
persona-edit-placeholder = Soy … y me encanta … Mis imágenes favoritas son …
persona-setup-title = Háblale a zipp de ti
persona-setup-who = ¿Quién eres?
persona-setup-who-placeholder = p. ej., enfermera del turno de noche de Lyon
persona-setup-work = ¿A qué te dedicas?
persona-setup-work-placeholder = p. ej., restauro bicicletas antiguas y dibujo cómics
persona-setup-love = ¿Qué te encanta?
persona-setup-love-placeholder = p. ej., el jazz, las ciudades bajo la lluvia, mis dos gatos
persona-setup-visual = ¿Qué imágenes te gustan?
persona-setup-visual-placeholder = p. ej., colores apagados, grano de película, calles tranquilas al atardecer
persona-questionnaire-who = Soy { $answer }.
persona-questionnaire-work = A qué me dedico: { $answer }.
persona-questionnaire-love = Adoro { $answer }.
persona-questionnaire-visual = En lo visual, prefiero { $answer }.
persona-saved = Guardado: tu persona es ahora la versión { $version }, y /imagine la usará a partir de tu próximo prompt. Solo tú puedes verla.
error-persona-empty = Esa persona queda vacía al quitar los espacios, los caracteres invisibles y las menciones. Escribe unas palabras sobre ti.
error-persona-too-long = Esa persona tiene { $length } caracteres; el límite es { $max }. Esto es lo que has escrito, para que puedas acortarlo:
error-persona-control = Esa persona contiene caracteres de control invisibles, así que no la he guardado. Aquí tienes lo que escribiste para que lo vuelvas a escribir como texto sin formato.
error-persona-cluster = Esa persona tiene un carácter con decenas de marcas apiladas, así que no la he guardado. Aquí tienes lo que escribiste para que lo vuelvas a escribir como texto sin formato.
error-answer-control = Una de tus respuestas contiene caracteres de control invisibles, así que no la he guardado. Aquí tienes lo que escribiste para que lo vuelvas a escribir como texto sin formato.
error-answer-cluster = Una de tus respuestas tiene un carácter con decenas de marcas apiladas, así que no la he guardado. Aquí tienes lo que escribiste para que lo vuelvas a escribir como texto sin formato.
error-answer-too-long = Una de tus respuestas tiene { $length } caracteres; el límite es { $max }. Aquí tienes lo que escribiste para que puedas acortarlo:
error-answer-empty = Esa respuesta queda vacía al quitar los espacios, los caracteres invisibles y las menciones.

persona-reset-done = Has vuelto a la persona inferida (versión { $version }); /imagine la usa a partir de ahora.
persona-reset-none = Todavía no hay ninguna persona inferida a la que volver, así que tu persona actual se mantiene. Con /persona actualizar le pides a zipp que infiera una.
persona-reset-already = Ya estás usando la persona inferida.
persona-refresh-done = Hecho: zipp ha inferido una persona nueva para ti (versión { $version }). Mírala con /persona ver.
persona-refresh-kept = Hecho: zipp ha inferido una persona nueva (versión { $version }), pero tu propia versión sigue en uso hasta que uses /persona restablecer.
persona-refresh-cooldown = Has actualizado tu persona hace poco. Podrás volver a actualizarla dentro de { $minutes } min.
persona-refresh-no-consent = zipp solo puede inferir una persona a partir de tu actividad si lo permites: /persona consentimiento activado. También puedes escribirla tú con /persona editar.
persona-refresh-disabled = Los moderadores han desactivado la inferencia de personas en este servidor. Aun así, puedes escribir tu propia persona con /persona editar o /persona configurar.
persona-refresh-unavailable = La inferencia de personas no está disponible en este momento (no hay ningún modelo entrenado cargado). Aun así, puedes escribir tu propia persona con /persona editar o /persona configurar.
persona-refresh-no-activity = zipp aún no ha visto suficiente actividad tuya aquí para inferir una persona. Publica y reacciona un poco y vuelve a intentarlo, o escríbela tú con /persona editar.
persona-history-header = Tus versiones de persona, de la más reciente a la más antigua:
persona-history-line = **v{ $version }** · { $source } · { $date }{ $active } — { $excerpt }
persona-history-in-use = (en uso)
persona-history-pick = Restaurar una versión…
persona-history-option = Versión { $version } ({ $source })
persona-restored = Versión { $version } restaurada; /imagine la usa a partir de ahora.

## /persona add-image

persona-image-added = Añadida: esta imagen ya cuenta para tu gusto. Solo se guarda su embedding de CLIP, no la imagen; /persona olvidar la borra.
error-image-no-consent = Las imágenes que añades cuentan para tu persona, así que zipp necesita antes tu consentimiento: /persona consentimiento activado.
error-image-inference-off = La moderación de este servidor desactivó el aprendizaje de personas, así que aquí no se pueden añadir imágenes.
error-image-unavailable = Añadir imágenes no está disponible ahora en este bot (no hay ningún modelo de imagen configurado).
error-image-type = Ese archivo no es una imagen PNG, JPEG o WebP. Adjunta una de esas, por favor.
error-image-too-large = Ese archivo es demasiado grande; el límite es { $max } MB.
error-image-too-many-pixels = Esa imagen tiene demasiados píxeles; el límite es { $max } megapíxeles.
error-image-unreadable = No he podido leer esa imagen: puede estar truncada o dañada. Prueba con otro archivo, por favor.

## /settings

settings = ajustes
    .description = Tus valores por defecto para /imagine en este servidor
    .aspect = formato
    .aspect-description = La forma de tus imágenes cuando no indicas ninguna
    .aspect-square = 1:1 cuadrado
    .aspect-landscape = 4:3 horizontal
    .aspect-portrait = 3:4 vertical
    .aspect-photo = 3:2 foto
    .aspect-photo-portrait = 2:3 foto, vertical
    .aspect-wide = 16:9 panorámico
    .aspect-tall = 9:16 alto
    .persona = persona
    .persona-description = Si tu persona reescribe tus prompts cuando no lo indicas
    .persona-on = activada
    .persona-off = desactivada
    .count = cantidad
    .count-description = Cuántas imágenes hace /imagine cuando no indicas una cantidad
    .reset = restablecer
    .reset-description = Olvidar tus valores por defecto
settings-shown = Tus valores por defecto en este servidor — forma: { $aspect }; persona: { $persona }; imágenes: { $count }. Las opciones de /imagine tienen prioridad.
settings-aspect-model = la del modelo
settings-persona-on = activada
settings-persona-off = desactivada
settings-reset-done = Tus valores por defecto se han borrado: /imagine vuelve a usar la forma del modelo y tu persona.
