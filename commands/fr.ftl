# zipp — français. Tous les textes des commandes slash et toutes les réponses sont ici.
# Les métadonnées des commandes suivent la convention de poise : `command = name`, `.description`,
# `.PARAM = name`, `.PARAM-description`. Noms : minuscules, 32 caractères au plus ;
# descriptions : 100 caractères au plus.

## Commandes

imagine = imagine
    .description = Générer une image à partir de votre prompt
    .prompt = prompt
    .prompt-description = Ce qu’il faut dessiner
    .seed = graine
    .seed-description = Graine pour obtenir une image reproductible (de 0 à 4294967295)
    .negative = négatif
    .negative-description = Ce qui ne doit pas apparaître dans l’image
    .persona = persona
    .persona-description = Utiliser votre persona (activé), l’ignorer (désactivé) ou comparer les deux côte à côte
    .persona-on = activé
    .persona-off = désactivé
    .persona-compare = comparer
    .aspect = format
    .aspect-description = La forme de l’image (par défaut : celle du modèle)
    .aspect-square = 1:1 carré
    .aspect-landscape = 4:3 paysage
    .aspect-portrait = 3:4 portrait
    .aspect-photo = 3:2 photo
    .aspect-photo-portrait = 2:3 photo, verticale
    .aspect-wide = 16:9 large
    .aspect-tall = 9:16 vertical
    .count = nombre
    .count-description = Combien d’images, montrées en une grille (de 1 à 4)
    .model = modele
    .model-description = Un modèle que ce serveur propose (par défaut : celui du serveur)

## Réponses de /imagine

imagine-queued = En file d’attente — position { $position }. Je mettrai ce message à jour pendant le rendu.
imagine-rendering = Rendu en cours — étape { $step }/{ $total }…
imagine-rendering-started = Rendu en cours…
imagine-done = Terminé en { $seconds } s.
imagine-result = Voici votre image.
imagine-result-grid = Voici vos { $count } images. U agrandit l’une d’elles, V en crée des variations.
imagine-upscale-cell-button = U{ $n }
imagine-vary-cell-button = V{ $n }
imagine-late-delivery = Ce rendu a duré plus longtemps que le délai pendant lequel Discord me laisse modifier la réponse d’origine ; la voici donc.
imagine-downscaled = L’image a été réduite à { $width }×{ $height } pour respecter la limite d’envoi de ce serveur.
imagine-too-large = L’image est trop volumineuse pour la limite d’envoi de ce serveur ; elle n’a donc pas pu être jointe.
imagine-field-prompt = Prompt
imagine-field-rendered = Prompt utilisé pour le rendu
imagine-field-model = Modèle
imagine-field-seed = Graine
imagine-field-time = Durée
imagine-field-rewrite = Réécriture
imagine-field-persona = Persona
imagine-persona-version = version { $version } ({ $source })
imagine-persona-button = Ouvrir mon persona
imagine-reroll-button = Relancer
imagine-again-not-yours = Seul le membre qui a créé cette image peut en faire de nouvelles à partir d’elle.
imagine-plain-button = Sans persona
imagine-vary-subtle-button = Varier (léger)
imagine-vary-strong-button = Varier (fort)
imagine-upscale-button = Agrandir ×2
imagine-derive-gone = Cette image n’est plus conservée : elle ne peut plus être variée ni agrandie. Relancer fonctionne toujours.
imagine-derive-unavailable = Une comparaison côte à côte ne peut pas être variée ni agrandie. Choisis un côté, puis relance.
imagine-info-button = Infos
imagine-info = **À propos de cette image** — modèle { $model }, graine { $seed }, { $steps } étapes, { $width }×{ $height }.
    Prompt saisi : { $prompt }
    Prompt rendu : { $rendered }
    Prompt négatif : { $negative }
    Persona : { $persona }
imagine-info-derived = Fait à partir de l’image { $parent } avec « { $how } ».
imagine-info-none = aucun
imagine-info-not-yours = Seul le membre qui a créé cette image peut en voir les détails.
imagine-info-gone = Les détails de cette image ne sont plus conservés.
imagine-field-left = Gauche
imagine-field-right = Droite
imagine-compare-result = Même graine, deux prompts : l’un réécrit pour votre persona, l’autre tel que vous l’avez saisi. Quelle image préférez-vous ?

## Mode comparaison

compare-left-better = L’image de gauche est meilleure
compare-right-better = L’image de droite est meilleure
compare-not-yours = Seul le membre qui a demandé cette image peut choisir.
compare-already-picked = Vous avez déjà choisi pour cette image ; c’est votre premier choix qui compte.
compare-unknown = Cette comparaison n’existe plus.
compare-pick-not-kept = Merci — votre choix est affiché mais pas conservé : zipp ne garde les choix que des membres qui l’autorisent à apprendre (/persona consentement activé).
error-compare-needs-persona = Le mode comparaison nécessite un persona, et vous n’en avez pas encore sur ce serveur.

## /stats

stats = stats
    .description = Combien de fois les membres d’ici ont préféré l’image faite avec leur persona
stats-none = Aucune comparaison pour l’instant. Essayez /imagine avec persona: comparer et choisissez l’image que vous préférez.
stats-win-rate = Les images avec persona ont gagné { $rate } % de { $n } comparaisons ({ $wins } victoires ; intervalle à 95 % : { $low }–{ $high } %).
stats-refusals = Demandes refusées : { $total } ({ $limits } au-delà des limites, { $blocklist } par la liste noire du serveur, { $builtin } par la liste intégrée, { $safety } images retenues par le contrôle de sécurité).

queue = file
    .description = Vos images en cours : place dans la file, heure estimée et boutons Annuler
queue-empty = Vous n'avez aucune image en cours ici.
queue-rendering = en rendu, étape { $step } sur { $total }
queue-waiting = en attente, place { $position } dans la file
queue-waiting-eta = en attente, place { $position } dans la file, prête { $eta }
queue-cancel = Annuler { $number }
queue-server = Ce serveur a { $here } images en cours ({ $everywhere } sur tout le bot).
queue-cancelled = Annulée.
queue-not-cancelled = Cette image n'est plus en cours (ou n'est pas la vôtre) : rien n'a été annulé.
render-cancelled = Vous avez annulé cette image.

## Erreurs de saisie (visibles par vous seulement)

error-prompt-empty = Donnez-moi quelque chose à dessiner : le prompt est vide.
error-prompt-too-long = Ce prompt fait { $length } caractères ; la limite est de { $max }. Merci de le raccourcir.
error-prompt-control = Le prompt contient des caractères de contrôle invisibles. Merci de le ressaisir en texte brut.
error-negative-too-long = Le prompt négatif fait { $length } caractères ; la limite est de { $max }.
error-negative-control = Le prompt négatif contient des caractères de contrôle invisibles. Merci de le ressaisir en texte brut.
error-prompt-cluster = Le prompt contient un caractère surchargé de dizaines de signes empilés. Merci de le ressaisir en texte brut.
error-negative-cluster = Le prompt négatif contient un caractère surchargé de dizaines de signes empilés. Merci de le ressaisir en texte brut.
error-negative-empty = Le prompt négatif est vide une fois les espaces et les caractères invisibles retirés.
error-seed-range = La graine doit être un nombre entier de 0 à 4294967295.
error-prompt-blocked = Désolé, je ne peux pas dessiner cela : le prompt va contre les règles de ce serveur ou de zipp.
error-limit-member-active = Vous avez déjà { $limit } images en cours. Attendez qu'une soit terminée, puis réessayez.
error-limit-member-hourly = Vous avez lancé { $limit } images dans la dernière heure, le maximum permis. Vous pourrez en lancer une autre { $retry }.
error-limit-server-active = Ce serveur a déjà { $limit } images en cours. Réessayez dans quelques minutes.
error-limit-server-hourly = Ce serveur a lancé { $limit } images dans la dernière heure, le maximum permis. Une autre pourra être lancée { $retry }.
error-count-range = Le nombre doit être compris entre 1 et { $max }.
error-compare-count = Une comparaison est une paire d’images : laissez le nombre à 1 avec persona: comparer.
error-model-not-allowed = Ce serveur ne propose pas ce modèle. Vous pouvez choisir : { $models }.
error-limit-count = C’est plus d’images qu’il n’est permis d’en lancer en une heure ici (au plus { $limit }). Demandez-en moins, s’il vous plaît.
error-model-unavailable = Le modèle d’image utilisé par ce serveur n’est pas disponible pour le moment. Un modérateur peut en choisir un autre.

## Échecs du rendu (affichés dans la réponse)

render-error-internal = Désolé, le rendu a échoué après plusieurs tentatives. Veuillez réessayer plus tard.
render-error-crashed = Désolé, le moteur de rendu s’est arrêté pendant qu’il traitait cette image. Veuillez réessayer.
render-error-model-unavailable = Désolé, le modèle d’image de ce serveur n’a pas pu être chargé. Un modérateur doit vérifier la configuration.
render-error-invalid-size = Désolé, ce modèle ne peut pas générer d’image à cette taille.
render-error-too-large = Désolé, une image aussi grande ne tient pas dans la mémoire du moteur de rendu. Essaie une taille plus petite ou un autre format.
render-error-source-gone = Désolé, l’image de départ n’est plus conservée. Relancer fonctionne toujours.
render-error-timeout = Désolé, cette image prenait trop de temps, je l'ai donc arrêtée. Réessayez plus tard.
imagine-withheld = Le contrôle de sécurité a signalé cette image, elle n'a donc pas été publiée ici. Essayez un autre prompt ou une autre graine.

## Général

error-internal = Un problème est survenu de mon côté. L’équipe a été prévenue ; veuillez réessayer plus tard.

## /config (modérateurs)

config = config
    .description = Configurer zipp pour ce serveur (modérateurs)
config-show = afficher
    .description = Afficher les paramètres de ce serveur
config-llm = llm
    .description = Choisir le LLM qui réécrit les prompts
    .name = nom
    .name-description = Un modèle du catalogue de l’opérateur
config-diffusion = diffusion
    .description = Choisir le modèle de diffusion qui génère les images
    .name = nom
    .name-description = Un modèle du catalogue de l’opérateur
    .role = role
    .role-description = Le modèle du serveur (par défaut), un modèle au choix des membres, ou le retirer
    .role-default = par défaut — le modèle du serveur
    .role-allow = autoriser — les membres peuvent le choisir
    .role-remove = retirer — les membres ne peuvent plus le choisir
config-persona = persona
    .description = Activer ou désactiver la déduction des personas sur ce serveur
    .state = état
    .state-description = activé ou désactivé
    .state-on = activé
    .state-off = désactivé
config-backfill = historique
    .description = Le consentement couvre aussi l’activité des derniers jours sur ce serveur
    .state = état
    .state-description = activé ou désactivé
    .state-on = activé
    .state-off = désactivé
config-metadata = metadonnees
    .description = Écrire la graine, le modèle, les étapes et le prompt de chaque image dans son PNG
    .state = état
    .state-description = activé ou désactivé
    .state-on = activé
    .state-off = désactivé
config-default = par défaut
config-settings = Paramètres de ce serveur — modèle de diffusion : { $diffusion } ; LLM : { $llm } ; déduction des personas : { $persona } ; reprise de l’historique : { $backfill } ; métadonnées des images : { $metadata } ; modèles au choix des membres : { $choices }.
config-changed = { $setting } vaut désormais { $value }. La modification figure dans le journal d’audit.
config-diffusion-choices = Les membres peuvent choisir ces modèles avec /imagine model : { $models }. Le changement figure dans le journal d’audit.
config-name-diffusion = Le modèle de diffusion
config-name-llm = Le LLM
config-name-persona = La déduction des personas
config-name-backfill = La reprise de l’historique
config-name-metadata = Les métadonnées des images
config-value-on = activé
config-value-off = désactivé
config-limits = limites
    .description = Resserrer les limites de /imagine sur ce serveur (jamais au-delà de l'opérateur)
    .member_active = membre_simultanees
    .member_active-description = Images qu'un membre peut avoir en cours en même temps
    .member_hourly = membre_par_heure
    .member_hourly-description = Images qu'un membre peut lancer par heure
    .server_active = serveur_simultanees
    .server_active-description = Images que tout le serveur peut avoir en cours en même temps
    .server_hourly = serveur_par_heure
    .server_hourly-description = Images que tout le serveur peut lancer par heure
config-blocklist = liste_noire
    .description = Mots et expressions que ce serveur refuse dans les prompts
config-blocklist-add = ajouter
    .description = Refuser les prompts contenant ce mot ou cette expression
    .phrase = expression
    .phrase-description = Un mot ou une expression (casse et caractères invisibles ignorés)
config-blocklist-remove = retirer
    .description = Ne plus refuser les prompts contenant ce mot ou cette expression
    .phrase = expression
    .phrase-description = Un mot ou une expression de la liste
config-blocklist-list = afficher
    .description = Afficher la liste noire de ce serveur
config-audit = journal
    .description = Afficher les dernières modifications des réglages de ce serveur
config-limits-now = Limites sur ce serveur — par membre : { $member_active } à la fois, { $member_hourly } par heure ; tout le serveur : { $server_active } à la fois, { $server_hourly } par heure. Les changements sont dans le journal.
config-name-member-active = La limite par membre à la fois
config-name-member-hourly = La limite par membre par heure
config-name-server-active = La limite du serveur à la fois
config-name-server-hourly = La limite du serveur par heure
config-blocklist-added = Ajouté à la liste noire : les prompts qui le contiennent sont désormais refusés. Le changement est dans le journal.
config-blocklist-already = Cette expression est déjà dans la liste noire.
config-blocklist-removed = Retiré de la liste noire. Le changement est dans le journal.
config-blocklist-absent = Cette expression n'est pas dans la liste noire.
config-blocklist-empty = La liste noire de ce serveur est vide. Une liste intégrée, qu'aucun serveur ne peut désactiver, s'applique toujours.
config-blocklist-shown = Liste noire ({ $count }) : { $phrases }
config-audit-empty = Aucun réglage n'a encore été modifié sur ce serveur.
config-audit-title = Dernières modifications, les plus récentes d'abord :
config-audit-entry = { $when } — { $who } a modifié { $setting } : { $old } → { $new }
config-audit-someone = un membre qui a demandé à être oublié
config-nsfw = nsfw
    .description = Sort des images signalées par le contrôle de sécurité dans les salons réservés aux adultes
    .policy = règle
    .policy-description = Jamais publiées hors des salons réservés aux adultes, quel que soit votre choix
    .policy-block = bloquer
    .policy-spoiler = spoiler
    .policy-allow = autoriser
config-name-nsfw = Les images signalées dans les salons réservés aux adultes
config-value-nsfw-block = bloquées
config-value-nsfw-spoiler = derrière un spoiler
config-value-nsfw-allow = autorisées

## Erreurs de /config

error-unknown-llm = Ce LLM ne figure pas dans le catalogue (ou n’est pas disponible pour les serveurs). Choisissez-en un dans la liste.
error-unknown-diffusion = Ce modèle de diffusion ne figure pas dans le catalogue (ou n’est pas disponible pour les serveurs). Choisissez-en un dans la liste.
error-guild-only = Cette commande ne fonctionne que sur un serveur.
error-missing-permission = Vous avez besoin de l’autorisation « Gérer le serveur » pour utiliser cette commande.
error-limit-above-operator = Un serveur peut seulement resserrer les limites : chaque valeur doit être entre 1 et { $max }.
error-blocklist-empty = Cette expression est vide une fois les espaces, la ponctuation et les caractères invisibles retirés.
error-blocklist-too-long = Cette expression est trop longue ; la limite est de 100 caractères.
error-blocklist-full = La liste noire est pleine ({ $max } expressions). Retirez-en une d'abord.

## /persona (chaque réponse n’est visible que par le membre)

persona = persona
    .description = Votre persona sur ce serveur : le voir, le modifier, l’actualiser ; consentement et données
persona-consent = consentement
    .description = Autoriser zipp à apprendre vos goûts à partir de votre activité ici, ou l’arrêter
    .state = état
    .state-description = activé : autoriser ; désactivé : arrêter et supprimer ce qui a été enregistré
    .state-on = activé
    .state-off = désactivé
persona-add-image = ajouter-image
    .description = Ajoutez une image que vous aimez : elle renseigne zipp sur vos goûts
    .image = image
    .image-description = Une image PNG, JPEG ou WebP
persona-forget = oublier
    .description = Supprimer tout ce que zipp conserve sur vous dans ce serveur
persona-consent-prompt = Envie d’images à votre goût ? Si vous acceptez, zipp enregistre *dans quels* salons vous publiez et réagissez, quels rôles vous avez, et à qui vous répondez ou qui vous mentionnez (uniquement des membres qui ont aussi accepté) — jamais ce que vous écrivez. Il en déduit un court persona que personne d’autre que vous ne peut voir ni modifier, et s’en sert pour réécrire vos prompts /imagine. Vous pouvez arrêter à tout moment avec /persona consentement désactivé, et tout effacer avec /persona oublier.
persona-consent-prompt-backfill = Sur ce serveur, accepter enregistre aussi ces mêmes métadonnées pour vos messages des { $days } derniers jours.
persona-consent-accept = Accepter
persona-consent-later = Pas maintenant
persona-consent-on = Merci ! zipp apprendra vos goûts à partir de votre activité sur ce serveur. Vous pouvez arrêter à tout moment avec /persona consentement désactivé.
persona-consent-already = Vous avez déjà autorisé zipp à apprendre vos goûts sur ce serveur, rien n’a donc changé. Vous pouvez arrêter à tout moment avec /persona consentement désactivé.
persona-consent-off = C’est fait : zipp n’enregistre plus votre activité ici. Supprimé : compteurs d’interactions { $interactions } · réactions à vos images { $feedback } · images { $images } · choix de comparaison { $picks } · personas déduits { $personas }. Les personas que vous avez écrits restent.
persona-consent-later-ack = Pas de problème : rien de votre activité n’est enregistré. Vous pourrez donner votre accord plus tard avec /persona consentement activé.
persona-forget-confirm = Cela supprime tout ce que zipp conserve sur vous dans ce serveur : l’activité enregistrée, les personas, vos choix lors des comparaisons, vos rendus (ceux en attente sont annulés) et votre consentement. Cette action est irréversible.
persona-forget-button = Tout supprimer
persona-forgotten = C’est fait : tout ce que zipp conservait sur vous dans ce serveur est supprimé.
persona-show = afficher
    .description = Afficher votre persona ici : son texte, son origine et ce qui l’explique
persona-edit = modifier
    .description = Rédiger ou modifier votre persona vous-même
persona-setup = configurer
    .description = Répondre à quatre questions courtes pour construire votre persona
persona-reset = réinitialiser
    .description = Abandonner votre propre version et revenir au persona déduit
persona-refresh = actualiser
    .description = Déduire à nouveau votre persona à partir de votre activité récente
persona-history = historique
    .description = Les versions précédentes de votre persona ; en restaurer une

## /persona afficher, modifier, configurer, réinitialiser, actualiser, historique

persona-none = Vous n’avez pas encore de persona sur ce serveur. Rédigez-en un avec /persona modifier, répondez à quatre questions courtes avec /persona configurer ou, si vous l’avez autorisé avec /persona consentement activé, laissez zipp en déduire un avec /persona actualiser.
persona-show-header = **Votre persona** — version { $version }, { $source }, { $date }
persona-source-inferred = déduit de votre activité
persona-source-edited = rédigé par vous
persona-source-questionnaire = d’après vos réponses à /persona configurer
persona-show-pinned = Votre propre version reste utilisée, même quand zipp en déduit une nouvelle, jusqu’à ce que vous lanciez /persona réinitialiser.
persona-show-evidence = Pourquoi : les salons qui ont le plus pesé sont { $channels }.
persona-show-evidence-roles = Rôles pris en compte : { $roles }.
persona-show-evidence-prompts = Également utilisés : { $count } de vos prompts /imagine récents.
persona-show-evidence-liked = Images que vous avez aimées (avec une réaction, ou choisies lors de comparaisons) : { $count }.
persona-show-evidence-image-taste = Le style des images qu’apprécient ici les membres qui vous ressemblent, d’après la place que vous donne l’encodeur de persona : { $looks }.
persona-show-private = Ceci n’est visible que par vous. /imagine s’en sert pour réécrire vos prompts (ignorez-le avec persona: désactivé).
persona-button-edit = Modifier
persona-button-history = Historique
persona-not-yours = Seul le membre qui a créé cette image peut ouvrir le persona utilisé.
persona-gone = Cette version du persona n’existe plus.

persona-edit-title = Votre persona
persona-edit-label = Qui vous êtes et ce que vous aimez voir
persona-edit-placeholder = Je suis … et j’adore … Mes images préférées sont …
persona-setup-title = Parlez de vous à zipp
persona-setup-who = Qui êtes-vous ?
persona-setup-who-placeholder = p. ex. infirmière de nuit à Lyon
persona-setup-work = Que faites-vous ?
persona-setup-work-placeholder = p. ex. je restaure de vieux vélos et je dessine des BD
persona-setup-love = Qu’aimez-vous ?
persona-setup-love-placeholder = p. ex. le jazz, les villes sous la pluie, mes deux chats
persona-setup-visual = Quelles images aimez-vous ?
persona-setup-visual-placeholder = p. ex. couleurs sourdes, grain argentique, rues calmes au crépuscule
persona-questionnaire-who = Je suis { $answer }.
persona-questionnaire-work = Ce que je fais : { $answer }.
persona-questionnaire-love = J’aime { $answer }.
persona-questionnaire-visual = Visuellement, j’aime { $answer }.
persona-saved = Enregistré : votre persona passe à la version { $version }, et /imagine l’utilise dès votre prochain prompt. Il n’est visible que par vous.
error-persona-empty = Ce persona est vide une fois les espaces, les caractères invisibles et les mentions retirés. Écrivez quelques mots sur vous.
error-persona-too-long = Ce persona fait { $length } caractères ; la limite est de { $max }. Voici ce que vous avez écrit, pour que vous puissiez le raccourcir :
error-persona-control = Ce persona contient des caractères de contrôle invisibles : je ne l'ai pas enregistré. Voici ce que vous avez écrit, à ressaisir en texte brut.
error-persona-cluster = Ce persona contient un caractère surchargé de dizaines de signes empilés : je ne l'ai pas enregistré. Voici ce que vous avez écrit, à ressaisir en texte brut.
error-answer-control = Une de vos réponses contient des caractères de contrôle invisibles : je ne l'ai pas enregistrée. Voici ce que vous avez écrit, à ressaisir en texte brut.
error-answer-cluster = Une de vos réponses contient un caractère surchargé de dizaines de signes empilés : je ne l'ai pas enregistrée. Voici ce que vous avez écrit, à ressaisir en texte brut.
error-answer-too-long = Une de vos réponses fait { $length } caractères ; la limite est de { $max }. Voici ce que vous avez écrit, pour la raccourcir :
error-answer-empty = Cette réponse est vide une fois les espaces, les caractères invisibles et les mentions retirés.

persona-reset-done = Retour au persona déduit (version { $version }) ; /imagine l’utilise désormais.
persona-reset-none = Il n’y a pas encore de persona déduit auquel revenir ; votre persona actuel est donc conservé. /persona actualiser demande à zipp d’en déduire un.
persona-reset-already = Vous utilisez déjà le persona déduit.
persona-refresh-done = C’est fait : zipp a déduit un nouveau persona pour vous (version { $version }). Consultez-le avec /persona afficher.
persona-refresh-kept = C’est fait : zipp a déduit un nouveau persona (version { $version }), mais votre propre version reste utilisée jusqu’à /persona réinitialiser.
persona-refresh-cooldown = Vous avez actualisé votre persona récemment. Vous pourrez recommencer dans { $minutes } min.
persona-refresh-no-consent = zipp ne peut déduire un persona de votre activité que si vous l’y autorisez : /persona consentement activé. Vous pouvez aussi en rédiger un vous-même avec /persona modifier.
persona-refresh-disabled = Les modérateurs ont désactivé la déduction des personas sur ce serveur. Vous pouvez toujours rédiger votre propre persona avec /persona modifier ou /persona configurer.
persona-refresh-unavailable = La déduction des personas n’est pas disponible pour le moment (aucun modèle entraîné n’est chargé). Vous pouvez toujours rédiger votre propre persona avec /persona modifier ou /persona configurer.
persona-refresh-no-activity = zipp n’a pas encore vu assez de votre activité ici pour déduire un persona. Publiez et réagissez un peu, puis réessayez — ou rédigez-en un vous-même avec /persona modifier.
persona-history-header = Vos versions de persona, de la plus récente à la plus ancienne :
persona-history-line = **v{ $version }** · { $source } · { $date }{ $active } — { $excerpt }
persona-history-in-use = (active)
persona-history-pick = Restaurer une version…
persona-history-option = Version { $version } ({ $source })
persona-restored = Version { $version } restaurée ; /imagine l’utilise désormais.

## /persona add-image

persona-image-added = Ajoutée : cette image compte désormais pour vos goûts. Seul son plongement CLIP est conservé, pas l’image ; /persona oublier l’efface.
error-image-no-consent = Les images que vous ajoutez comptent pour votre persona : zipp a donc d’abord besoin de votre consentement : /persona consentement activé.
error-image-inference-off = La modération de ce serveur a désactivé l’apprentissage des personas : impossible d’ajouter des images ici.
error-image-unavailable = L’ajout d’images n’est pas disponible sur ce bot pour le moment (aucun modèle d’image n’est configuré).
error-image-type = Ce fichier n’est pas une image PNG, JPEG ou WebP. Merci d’en joindre une.
error-image-too-large = Ce fichier est trop volumineux ; la limite est de { $max } Mo.
error-image-too-many-pixels = Cette image a trop de pixels ; la limite est de { $max } mégapixels.
error-image-unreadable = Je n’ai pas pu lire cette image : elle est peut-être tronquée ou endommagée. Merci d’essayer un autre fichier.

## /settings

settings = reglages
    .description = Vos valeurs par défaut pour /imagine sur ce serveur
    .aspect = format
    .aspect-description = La forme de vos images quand vous n’en donnez pas
    .aspect-square = 1:1 carré
    .aspect-landscape = 4:3 paysage
    .aspect-portrait = 3:4 portrait
    .aspect-photo = 3:2 photo
    .aspect-photo-portrait = 2:3 photo, verticale
    .aspect-wide = 16:9 large
    .aspect-tall = 9:16 vertical
    .persona = persona
    .persona-description = Si votre persona réécrit vos prompts quand vous ne le précisez pas
    .persona-on = activée
    .persona-off = désactivée
    .count = nombre
    .count-description = Combien d’images /imagine crée quand vous n’en indiquez pas
    .reset = reinitialiser
    .reset-description = Oublier vos valeurs par défaut
settings-shown = Vos valeurs par défaut sur ce serveur — forme : { $aspect } ; persona : { $persona } ; images : { $count }. Les options de /imagine ont la priorité.
settings-aspect-model = celle du modèle
settings-persona-on = activée
settings-persona-off = désactivée
settings-reset-done = Vos valeurs par défaut sont effacées : /imagine reprend la forme du modèle et votre persona.
