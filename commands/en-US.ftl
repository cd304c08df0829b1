# zipp — English (United States). Every slash-command text and every reply lives here.
# Command metadata follows poise's convention: `command = name`, `.description`,
# `.PARAM = name`, `.PARAM-description`. Names: lowercase, at most 32 characters; descriptions
# at most 100 characters.

## Commands

imagine = imagine
    .description = Render an image from your prompt
    .prompt = prompt
    .prompt-description = What to draw
    .seed = seed
    .seed-description = Seed for a reproducible image (0 to 4294967295)
    .negative = negative
    .negative-description = What to keep out of the image
    .persona = persona
    .persona-description = Use your persona (on), skip it (off), or compare both side by side
    .persona-on = on
    .persona-off = off
    .persona-compare = compare
    .aspect = aspect
    .aspect-description = The shape of the image (default: the model's own)
    .aspect-square = 1:1 square
    .aspect-landscape = 4:3 landscape
    .aspect-portrait = 3:4 portrait
    .aspect-photo = 3:2 photo
    .aspect-photo-portrait = 2:3 photo, upright
    .aspect-wide = 16:9 wide
    .aspect-tall = 9:16 tall
    .count = count
    .count-description = How many images, shown as one grid (1 to 4)
    .model = model
    .model-description = A model this server offers (default: the server's own)

## /imagine replies

imagine-queued = Queued — position { $position }. I'll update this message as it renders.
imagine-rendering = Rendering — step { $step }/{ $total }…
imagine-rendering-started = Rendering…
imagine-done = Done in { $seconds } s.
imagine-result = Here is your image.
imagine-result-grid = Here are your { $count } images. U upscales one of them, V makes variations of it.
imagine-upscale-cell-button = U{ $n }
imagine-vary-cell-button = V{ $n }
imagine-late-delivery = This render took longer than Discord lets me edit the original reply, so here it is.
imagine-downscaled = The image was scaled down to { $width }×{ $height } to fit this server's upload limit.
imagine-too-large = The image is too large for this server's upload limit, so it could not be attached.
imagine-field-prompt = Prompt
imagine-field-rendered = Prompt rendered
imagine-field-model = Model
imagine-field-seed = Seed
imagine-field-time = Time
imagine-field-rewrite = Rewrite
imagine-field-persona = Persona
imagine-persona-version = version { $version } ({ $source })
imagine-persona-button = Open my persona
imagine-reroll-button = Reroll
imagine-again-not-yours = Only the member who made this image can make new ones from it.
imagine-plain-button = Without persona
imagine-vary-subtle-button = Vary (subtle)
imagine-vary-strong-button = Vary (strong)
imagine-upscale-button = Upscale ×2
imagine-derive-gone = This image is no longer kept, so it cannot be varied or upscaled. Reroll still works.
imagine-derive-unavailable = A side-by-side comparison cannot be varied or upscaled. Pick a side, then Reroll.
imagine-info-button = Info
imagine-info = **About this image** — model { $model }, seed { $seed }, { $steps } steps, { $width }×{ $height }.
    Prompt as typed: { $prompt }
    Prompt rendered: { $rendered }
    Negative prompt: { $negative }
    Persona: { $persona }
imagine-info-derived = Made from image { $parent } with { $how }.
imagine-info-none = none
imagine-info-not-yours = Only the member who made this image can see its details.
imagine-info-gone = The details of this image are no longer kept.
imagine-field-left = Left
imagine-field-right = Right
imagine-compare-result = Same seed, two prompts: one written for your persona, one as you typed it. Which do you prefer?

## Compare mode

compare-left-better = Left is better
compare-right-better = Right is better
compare-not-yours = Only the member who asked for this image can pick.
compare-already-picked = You already picked on this image; your first pick counts.
compare-unknown = That comparison no longer exists.
compare-pick-not-kept = Thanks — your pick is shown, but not kept: zipp keeps picks only from members who allow it to learn (/persona consent on).
error-compare-needs-persona = Compare mode needs a persona, and you don't have one in this server yet.

## /stats

stats = stats
    .description = How often members here preferred their persona image
stats-none = No comparisons yet. Try /imagine with persona: compare and pick the image you prefer.
stats-win-rate = Persona images won { $rate }% of { $n } comparisons ({ $wins } wins; 95% interval { $low }–{ $high }%).
stats-refusals = Refused requests: { $total } ({ $limits } over limits, { $blocklist } by the server's blocklist, { $builtin } by the built-in list, { $safety } images withheld by the safety check).

queue = queue
    .description = Your images on the way: their place in the queue, an ETA, and Cancel buttons
queue-empty = You have no images on the way here.
queue-rendering = rendering, step { $step } of { $total }
queue-waiting = waiting, place { $position } in the queue
queue-waiting-eta = waiting, place { $position } in the queue, ready { $eta }
queue-cancel = Cancel { $number }
queue-server = This server has { $here } images on the way ({ $everywhere } on the whole bot).
queue-cancelled = Cancelled.
queue-not-cancelled = That image is no longer on the way (or is not yours), so nothing was cancelled.
render-cancelled = You cancelled this image.

## Validation errors (ephemeral)

error-prompt-empty = Please give me something to draw: the prompt is empty.
error-prompt-too-long = That prompt is { $length } characters long; the limit is { $max }. Please shorten it.
error-prompt-control = The prompt contains invisible control characters. Please retype it as plain text.
error-negative-too-long = The negative prompt is { $length } characters long; the limit is { $max }.
error-negative-control = The negative prompt contains invisible control characters. Please retype it as plain text.
error-prompt-cluster = The prompt has a character with dozens of marks stacked on it. Please retype it as plain text.
error-negative-cluster = The negative prompt has a character with dozens of marks stacked on it. Please retype it as plain text.
error-negative-empty = The negative prompt is empty once spaces and invisible characters are removed.
error-seed-range = The seed must be a whole number from 0 to 4294967295.
error-prompt-blocked = Sorry, I can't draw that: the prompt goes against this server's rules or zipp's.
error-limit-member-active = You already have { $limit } images on the way. Please wait until one is done, then try again.
error-limit-member-hourly = You have started { $limit } images in the last hour, the most allowed. You can start another { $retry }.
error-limit-server-active = This server already has { $limit } images on the way. Please try again in a few minutes.
error-limit-server-hourly = This server has started { $limit } images in the last hour, the most allowed. Another can start { $retry }.
error-count-range = The count must be from 1 to { $max }.
error-compare-count = A comparison is one pair of images: leave the count at 1 with persona: compare.
error-model-not-allowed = This server does not offer that model. You can pick: { $models }.
error-limit-count = That is more images than may start in an hour here (at most { $limit }). Please ask for fewer.
error-model-unavailable = The image model this server uses is not available right now. A moderator can pick another one.

## Render failures (shown in the reply)

render-error-internal = Sorry, rendering failed after several tries. Please try again later.
render-error-crashed = Sorry, the renderer stopped while working on this image. Please try again.
render-error-model-unavailable = Sorry, the image model for this server could not be loaded. A moderator has to check the configuration.
render-error-invalid-size = Sorry, this model cannot render at that size.
render-error-too-large = Sorry, an image this large does not fit in the renderer's memory. Try a smaller size or another shape.
render-error-source-gone = Sorry, the image to start from is no longer kept. Reroll still works.
render-error-timeout = Sorry, this image took too long to render, so I stopped it. Please try again later.
imagine-withheld = The safety check flagged this image, so it was not posted here. Try another prompt or seed.

## Generic

error-internal = Something went wrong on my side. The team has been told; please try again later.

## /config (moderators)

config = config
    .description = Configure zipp for this server (moderators)
config-show = show
    .description = Show this server's settings
config-llm = llm
    .description = Choose the LLM that rewrites prompts
    .name = name
    .name-description = A model from the operator's catalog
config-diffusion = diffusion
    .description = Choose the diffusion model that renders images
    .name = name
    .name-description = A model from the operator's catalog
    .role = role
    .role-description = The server's model (the default), or one members may pick, or take it off
    .role-default = default — the server's model
    .role-allow = allow — members may pick it
    .role-remove = remove — members may no longer pick it
config-persona = persona
    .description = Turn persona inference on or off for this server
    .state = state
    .state-description = on or off
    .state-on = on
    .state-off = off
config-backfill = backfill
    .description = Let members' consent also cover their last days of activity here
    .state = state
    .state-description = on or off
    .state-on = on
    .state-off = off
config-metadata = metadata
    .description = Write each image's seed, model, steps and prompt into its PNG file
    .state = state
    .state-description = on or off
    .state-on = on
    .state-off = off
config-default = default
config-settings = Settings of this server — diffusion model: { $diffusion }; LLM: { $llm }; persona inference: { $persona }; history backfill: { $backfill }; image metadata: { $metadata }; models members may pick: { $choices }.
config-changed = { $setting } is now { $value }. The change is in the audit log.
config-diffusion-choices = Members can pick these models with /imagine model: { $models }. The change is in the audit log.
config-name-diffusion = The diffusion model
config-name-llm = The LLM
config-name-persona = Persona inference
config-name-backfill = History backfill
config-name-metadata = Image metadata
config-value-on = on
config-value-off = off
config-limits = limits
    .description = Tighten this server's limits on /imagine (never above the operator's)
    .member_active = member_active
    .member_active-description = Images one member may have on the way at once
    .member_hourly = member_hourly
    .member_hourly-description = Images one member may start per hour
    .server_active = server_active
    .server_active-description = Images the whole server may have on the way at once
    .server_hourly = server_hourly
    .server_hourly-description = Images the whole server may start per hour
config-blocklist = blocklist
    .description = Words and phrases this server refuses in prompts
config-blocklist-add = add
    .description = Refuse prompts holding this word or phrase
    .phrase = phrase
    .phrase-description = A word or phrase (case, accents width and invisible characters are ignored)
config-blocklist-remove = remove
    .description = Stop refusing prompts holding this word or phrase
    .phrase = phrase
    .phrase-description = A word or phrase on the list
config-blocklist-list = list
    .description = Show this server's blocklist
config-audit = audit
    .description = Show the latest changes to this server's settings
config-limits-now = Limits in this server — per member: { $member_active } at once, { $member_hourly } per hour; whole server: { $server_active } at once, { $server_hourly } per hour. Changes are in the audit log.
config-name-member-active = The limit per member at once
config-name-member-hourly = The limit per member per hour
config-name-server-active = The server's limit at once
config-name-server-hourly = The server's limit per hour
config-blocklist-added = Added to the blocklist: prompts holding it are refused from now on. The change is in the audit log.
config-blocklist-already = That phrase is on the blocklist already.
config-blocklist-removed = Removed from the blocklist. The change is in the audit log.
config-blocklist-absent = That phrase is not on the blocklist.
config-blocklist-empty = The blocklist of this server is empty. A built-in list that no server can turn off still applies.
config-blocklist-shown = Blocklist ({ $count }): { $phrases }
config-audit-empty = No settings were changed in this server yet.
config-audit-title = Latest changes, newest first:
config-audit-entry = { $when } — { $who } changed { $setting }: { $old } → { $new }
config-audit-someone = a member who asked to be forgotten
config-nsfw = nsfw
    .description = What images flagged by the safety check do in age-restricted channels
    .policy = policy
    .policy-description = Never posted outside age-restricted channels, whatever you choose
    .policy-block = block
    .policy-spoiler = spoiler
    .policy-allow = allow
config-name-nsfw = Flagged images in age-restricted channels
config-value-nsfw-block = blocked
config-value-nsfw-spoiler = behind a spoiler
config-value-nsfw-allow = allowed

## Errors of /config

error-unknown-llm = That LLM is not in the catalog (or not available to servers). Pick one from the list.
error-unknown-diffusion = That diffusion model is not in the catalog (or not available to servers). Pick one from the list.
error-guild-only = This command only works inside a server.
error-missing-permission = You need the Manage Server permission for this command.
error-limit-above-operator = Servers can only tighten limits: each value must be from 1 to { $max }.
error-blocklist-empty = That phrase is empty once spaces, punctuation and invisible characters are removed.
error-blocklist-too-long = That phrase is too long; the limit is 100 characters.
error-blocklist-full = The blocklist is full ({ $max } phrases). Remove one first.

## /persona (every reply is visible to the member only)

persona = persona
    .description = Your persona in this server: see, edit, refresh it; consent and your data
persona-consent = consent
    .description = Allow or stop zipp learning your taste from your activity here
    .state = state
    .state-description = on: allow; off: stop and delete what was recorded
    .state-on = on
    .state-off = off
persona-add-image = add-image
    .description = Add an image you love: it tells zipp about your taste
    .image = image
    .image-description = A PNG, JPEG or WebP image
persona-forget = forget
    .description = Delete everything zipp keeps about you in this server
persona-consent-prompt = Want images in your own taste? If you accept, zipp records *which* channels you post and react in, which roles you have, and whom you reply to or mention (only members who also accepted) — never what you write. From that it infers a short persona that only you can see and edit, and uses it to rewrite your /imagine prompts. You can stop any time with /persona consent off, and erase everything with /persona forget.
persona-consent-prompt-backfill = In this server, accepting also records the same metadata for your messages of the last { $days } days.
persona-consent-accept = Accept
persona-consent-later = Not now
persona-consent-on = Thanks! zipp will learn your taste from your activity in this server. Stop any time with /persona consent off.
persona-consent-already = You already allow zipp to learn your taste in this server, so nothing changed. Stop any time with /persona consent off.
persona-consent-off = Done: zipp no longer records your activity here. Deleted: interaction counts { $interactions } · reactions on your images { $feedback } · images { $images } · comparison picks { $picks } · inferred personas { $personas }. Personas you wrote stay.
persona-consent-later-ack = No problem: nothing about your activity is recorded. You can opt in later with /persona consent on.
persona-forget-confirm = This deletes everything zipp keeps about you in this server: recorded activity, personas, picks, your renders (pending ones are cancelled) and your consent. It cannot be undone.
persona-forget-button = Delete everything
persona-forgotten = Done: everything zipp kept about you in this server is deleted.
persona-show = show
    .description = Show your persona here: its text, where it came from and why
persona-edit = edit
    .description = Write or change your persona yourself
persona-setup = setup
    .description = Answer four short questions to build your persona
persona-reset = reset
    .description = Drop your own version and go back to the inferred persona
persona-refresh = refresh
    .description = Infer your persona again from your recent activity
persona-history = history
    .description = Earlier versions of your persona; restore one

## /persona show, edit, setup, reset, refresh, history

persona-none = You have no persona in this server yet. Write one with /persona edit, answer four short questions with /persona setup, or — if you allowed it with /persona consent on — let zipp infer one with /persona refresh.
persona-show-header = **Your persona** — version { $version }, { $source }, { $date }
persona-source-inferred = inferred from your activity
persona-source-edited = written by you
persona-source-questionnaire = from your answers to /persona setup
persona-show-pinned = Your own version stays in use, even when zipp infers a new one, until you run /persona reset.
persona-show-evidence = Why: the channels that weighed most were { $channels }.
persona-show-evidence-roles = Roles that counted: { $roles }.
persona-show-evidence-prompts = Also used: { $count } of your recent /imagine prompts.
persona-show-evidence-liked = Images you liked (reacted to, or picked in comparisons): { $count }.
persona-show-evidence-image-taste = The look of the images members like you engage with here, as the persona encoder places you: { $looks }.
persona-show-private = Only you can see this. /imagine uses it to rewrite your prompts (skip it with persona: off).
persona-button-edit = Edit
persona-button-history = History
persona-not-yours = Only the member who made this image can open the persona it used.
persona-gone = That persona version no longer exists.

persona-edit-title = Your persona
persona-edit-label = Who you are and what you like to see
persona-edit-placeholder = I'm a … who loves … My favourite images are …
persona-setup-title = Tell zipp about yourself
persona-setup-who = Who are you?
persona-setup-who-placeholder = e.g. a night-shift nurse from Lyon
persona-setup-work = What do you do?
persona-setup-work-placeholder = e.g. I restore old bicycles and draw comics
persona-setup-love = What do you love?
persona-setup-love-placeholder = e.g. jazz, rainy cities, my two cats
persona-setup-visual = What images do you like?
persona-setup-visual-placeholder = e.g. muted colours, film grain, quiet streets at dusk
persona-questionnaire-who = I am { $answer }.
persona-questionnaire-work = What I do: { $answer }.
persona-questionnaire-love = I love { $answer }.
persona-questionnaire-visual = Visually, I like { $answer }.
persona-saved = Saved: your persona is now version { $version }, and /imagine uses it from your next prompt. Only you can see it.
error-persona-empty = That persona is empty once spaces, invisible characters and mentions are removed. Please write a few words about yourself.
error-persona-too-long = That persona is { $length } characters long; the limit is { $max }. Here is what you wrote, so you can shorten it:
error-persona-control = That persona contains invisible control characters, so I did not save it. Here is what you wrote, to retype as plain text.
error-persona-cluster = That persona has a character with dozens of marks stacked on it, so I did not save it. Here is what you wrote, to retype as plain text.
error-answer-control = One of your answers contains invisible control characters, so I did not save it. Here is what you wrote, to retype as plain text.
error-answer-cluster = One of your answers has a character with dozens of marks stacked on it, so I did not save it. Here is what you wrote, to retype as plain text.
error-answer-too-long = One of your answers is { $length } characters long; the limit is { $max }. Here is what you wrote, so you can shorten it:
error-answer-empty = That answer is empty once spaces, invisible characters and mentions are removed.

persona-reset-done = Back to the inferred persona (version { $version }); /imagine uses it from now on.
persona-reset-none = There is no inferred persona to go back to yet, so your current persona stays. /persona refresh asks zipp to infer one.
persona-reset-already = You are already using the inferred persona.
persona-refresh-done = Done: zipp inferred a new persona for you (version { $version }). See it with /persona show.
persona-refresh-kept = Done: zipp inferred a new persona (version { $version }), but your own version stays in use until /persona reset.
persona-refresh-cooldown = You refreshed your persona recently. You can refresh again in { $minutes } min.
persona-refresh-no-consent = zipp can only infer a persona from your activity if you allow it: /persona consent on. You can also write one yourself with /persona edit.
persona-refresh-disabled = The moderators turned persona inference off for this server. You can still write your own persona with /persona edit or /persona setup.
persona-refresh-unavailable = Persona inference is not available right now (no trained model is loaded). You can still write your own persona with /persona edit or /persona setup.
persona-refresh-no-activity = zipp has not seen enough of your activity here yet to infer a persona. Post and react a little, then try again — or write one yourself with /persona edit.
persona-history-header = Your persona versions, newest first:
persona-history-line = **v{ $version }** · { $source } · { $date }{ $active } — { $excerpt }
persona-history-in-use = (in use)
persona-history-pick = Restore a version…
persona-history-option = Version { $version } ({ $source })
persona-restored = Restored version { $version }; /imagine uses it from now on.

## /persona add-image

persona-image-added = Added: this image now counts toward your taste. Only its CLIP embedding is kept, not the image; /persona forget erases it.
error-image-no-consent = Images you add count toward your persona, so zipp needs your consent first: /persona consent on.
error-image-inference-off = This server's moderators turned persona learning off, so images cannot be added here.
error-image-unavailable = Adding images is not available on this bot right now (no image model is configured).
error-image-type = That file is not a PNG, JPEG or WebP image. Please attach one of those.
error-image-too-large = That file is too large; the limit is { $max } MB.
error-image-too-many-pixels = That image has too many pixels; the limit is { $max } megapixels.
error-image-unreadable = I couldn't read that image: it may be truncated or damaged. Please try another file.

## /settings

settings = settings
    .description = Your defaults for /imagine in this server
    .aspect = aspect
    .aspect-description = The shape of your images when you give none
    .aspect-square = 1:1 square
    .aspect-landscape = 4:3 landscape
    .aspect-portrait = 3:4 portrait
    .aspect-photo = 3:2 photo
    .aspect-photo-portrait = 2:3 photo, upright
    .aspect-wide = 16:9 wide
    .aspect-tall = 9:16 tall
    .persona = persona
    .persona-description = Whether your persona rewrites your prompts when you do not say
    .persona-on = on
    .persona-off = off
    .count = count
    .count-description = How many images /imagine makes when you give no count
    .reset = reset
    .reset-description = Forget your defaults
settings-shown = Your defaults in this server — shape: { $aspect }; persona: { $persona }; images: { $count }. The options of /imagine override them.
settings-aspect-model = the model's own
settings-persona-on = on
settings-persona-off = off
settings-reset-done = Your defaults are cleared: /imagine uses the model's shape and your persona again.
