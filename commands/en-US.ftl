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

## /imagine replies

imagine-queued = Queued — position { $position }. I'll update this message as it renders.
imagine-rendering = Rendering — step { $step }/{ $total }…
imagine-rendering-started = Rendering…
imagine-done = Done in { $seconds } s.
imagine-result = Here is your image.
imagine-late-delivery = This render took longer than Discord lets me edit the original reply, so here it is.
imagine-downscaled = The image was scaled down to { $width }×{ $height } to fit this server's upload limit.
imagine-too-large = The image is too large for this server's upload limit, so it could not be attached.
imagine-field-prompt = Prompt
imagine-field-rendered = Prompt rendered
imagine-field-model = Model
imagine-field-seed = Seed
imagine-field-time = Time
imagine-field-rewrite = Rewrite
imagine-field-left = Left
imagine-field-right = Right
imagine-compare-result = Same seed, two prompts: one written for your persona, one as you typed it. Which do you prefer?

## Compare mode

compare-left-better = Left is better
compare-right-better = Right is better
compare-not-yours = Only the member who asked for this image can pick.
compare-already-picked = You already picked on this image; your first pick counts.
compare-unknown = That comparison no longer exists.
error-compare-needs-persona = Compare mode needs a persona, and you don't have one in this server yet.

## /stats

stats = stats
    .description = How often members here preferred their persona image
stats-none = No comparisons yet. Try /imagine with persona: compare and pick the image you prefer.
stats-win-rate = Persona images won { $rate }% of { $n } comparisons ({ $wins } wins; 95% interval { $low }–{ $high }%).

## Validation errors (ephemeral)

error-prompt-empty = Please give me something to draw: the prompt is empty.
error-prompt-too-long = That prompt is { $length } characters long; the limit is { $max }. Please shorten it.
error-prompt-control = The prompt contains invisible control characters. Please retype it as plain text.
error-negative-too-long = The negative prompt is { $length } characters long; the limit is { $max }.
error-negative-control = The negative prompt contains invisible control characters. Please retype it as plain text.
error-seed-range = The seed must be a whole number from 0 to 4294967295.
error-model-unavailable = The image model this server uses is not available right now. A moderator can pick another one.

## Render failures (shown in the reply)

render-error-internal = Sorry, rendering failed after several tries. Please try again later.
render-error-crashed = Sorry, the renderer stopped while working on this image. Please try again.
render-error-model-unavailable = Sorry, the image model for this server could not be loaded. A moderator has to check the configuration.
render-error-invalid-size = Sorry, this model cannot render at that size.

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
config-persona = persona
    .description = Turn persona inference on or off for this server
    .state = state
    .state-description = on or off
    .state-on = on
    .state-off = off
config-default = default
config-settings = Settings of this server — diffusion model: { $diffusion }; LLM: { $llm }; persona inference: { $persona }.
config-changed = { $setting } is now { $value }. The change is in the audit log.

## Errors of /config

error-unknown-llm = That LLM is not in the catalog (or not available to servers). Pick one from the list.
error-unknown-diffusion = That diffusion model is not in the catalog (or not available to servers). Pick one from the list.
error-guild-only = This command only works inside a server.
error-missing-permission = You need the Manage Server permission for this command.

## /persona (every reply is visible to the member only)

persona = persona
    .description = Your persona in this server: consent and your data
persona-consent = consent
    .description = Allow or stop zipp learning your taste from your activity here
    .state = state
    .state-description = on: allow; off: stop and delete what was recorded
    .state-on = on
    .state-off = off
persona-forget = forget
    .description = Delete everything zipp keeps about you in this server
persona-consent-prompt = Want images in your own taste? If you accept, zipp records *which* channels you post and react in, which roles you have, and whom you reply to or mention (only members who also accepted) — never what you write. From that it infers a short persona that only you can see and edit, and uses it to rewrite your /imagine prompts. You can stop any time with /persona consent off, and erase everything with /persona forget.
persona-consent-accept = Accept
persona-consent-later = Not now
persona-consent-on = Thanks! zipp will learn your taste from your activity in this server. Stop any time with /persona consent off.
persona-consent-off = Done: zipp no longer records your activity here, and what it had recorded is deleted.
persona-consent-later-ack = No problem: nothing about your activity is recorded. You can opt in later with /persona consent on.
persona-forget-confirm = This deletes everything zipp keeps about you in this server: recorded activity, personas, picks, your renders (pending ones are cancelled) and your consent. It cannot be undone.
persona-forget-button = Delete everything
persona-forgotten = Done: everything zipp kept about you in this server is deleted.
