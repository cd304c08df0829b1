# zipp — Deutsch. Jeder Text der Slash-Befehle und jede Antwort steht hier.
# Befehlsmetadaten folgen der Konvention von poise: `command = name`, `.description`,
# `.PARAM = name`, `.PARAM-description`. Namen: Kleinbuchstaben, höchstens 32 Zeichen;
# Beschreibungen höchstens 100 Zeichen.

## Befehle

imagine = imagine
    .description = Erzeuge ein Bild aus deinem Prompt
    .prompt = prompt
    .prompt-description = Was gezeichnet werden soll
    .seed = seed
    .seed-description = Seed für ein reproduzierbares Bild (0 bis 4294967295)
    .negative = negativ
    .negative-description = Was nicht im Bild vorkommen soll
    .persona = persona
    .persona-description = Deine Persona nutzen (an), weglassen (aus) oder beide Bilder nebeneinander vergleichen
    .persona-on = an
    .persona-off = aus
    .persona-compare = vergleichen
    .aspect = format
    .aspect-description = Die Form des Bildes (Standard: die des Modells)
    .aspect-square = 1:1 quadratisch
    .aspect-landscape = 4:3 quer
    .aspect-portrait = 3:4 hoch
    .aspect-photo = 3:2 Foto
    .aspect-photo-portrait = 2:3 Foto, hoch
    .aspect-wide = 16:9 breit
    .aspect-tall = 9:16 schmal
    .count = anzahl
    .count-description = Wie viele Bilder, als ein Raster gezeigt (1 bis 4)
    .model = modell
    .model-description = Ein Modell, das dieser Server anbietet (Standard: das des Servers)

## Antworten von /imagine

imagine-queued = In der Warteschlange — Position { $position }. Ich aktualisiere diese Nachricht, während das Bild entsteht.
imagine-rendering = Wird gerendert — Schritt { $step }/{ $total }…
imagine-rendering-started = Wird gerendert…
imagine-done = Fertig in { $seconds } s.
imagine-result = Hier ist dein Bild.
imagine-result-grid = Hier sind deine { $count } Bilder. U vergrößert eines davon, V macht Variationen davon.
imagine-upscale-cell-button = U{ $n }
imagine-vary-cell-button = V{ $n }
imagine-late-delivery = Das Rendern hat länger gedauert, als Discord mir die ursprüngliche Antwort bearbeiten lässt, deshalb kommt das Bild hier.
imagine-downscaled = Das Bild wurde auf { $width }×{ $height } verkleinert, damit es in das Upload-Limit dieses Servers passt.
imagine-too-large = Das Bild ist zu groß für das Upload-Limit dieses Servers und konnte daher nicht angehängt werden.
imagine-field-prompt = Prompt
imagine-field-rendered = Gerenderter Prompt
imagine-field-model = Modell
imagine-field-seed = Seed
imagine-field-time = Dauer
imagine-field-rewrite = Umformulierung
imagine-field-persona = Persona
imagine-persona-version = Version { $version } ({ $source })
imagine-persona-button = Meine Persona öffnen
imagine-reroll-button = Neu würfeln
imagine-again-not-yours = Nur das Mitglied, das dieses Bild erstellt hat, kann daraus neue machen.
imagine-plain-button = Ohne Persona
imagine-vary-subtle-button = Variieren (leicht)
imagine-vary-strong-button = Variieren (stark)
imagine-upscale-button = Hochskalieren ×2
imagine-derive-gone = Dieses Bild wird nicht mehr aufbewahrt und kann daher weder variiert noch hochskaliert werden. Neu würfeln geht weiterhin.
imagine-derive-unavailable = Ein Vergleich nebeneinander kann weder variiert noch hochskaliert werden. Wähle eine Seite und würfle dann neu.
imagine-info-button = Info
imagine-info = **Über dieses Bild** — Modell { $model }, Seed { $seed }, { $steps } Schritte, { $width }×{ $height }.
    Prompt wie eingegeben: { $prompt }
    Gerenderter Prompt: { $rendered }
    Negativer Prompt: { $negative }
    Persona: { $persona }
imagine-info-derived = Aus Bild { $parent } mit „{ $how }“ gemacht.
imagine-info-none = keiner
imagine-info-not-yours = Nur das Mitglied, das dieses Bild erstellt hat, kann seine Details sehen.
imagine-info-gone = Die Details dieses Bildes werden nicht mehr aufbewahrt.
imagine-field-left = Links
imagine-field-right = Rechts
imagine-compare-result = Gleicher Seed, zwei Prompts: einer für deine Persona geschrieben, einer so, wie du ihn eingegeben hast. Welches Bild gefällt dir besser?

## Vergleichsmodus

compare-left-better = Links ist besser
compare-right-better = Rechts ist besser
compare-not-yours = Nur das Mitglied, das dieses Bild angefordert hat, kann wählen.
compare-already-picked = Du hast bei diesem Bild schon gewählt; deine erste Wahl zählt.
compare-unknown = Diesen Vergleich gibt es nicht mehr.
compare-pick-not-kept = Danke – deine Auswahl wird angezeigt, aber nicht gespeichert: zipp speichert Auswahlen nur von Mitgliedern, die das Lernen erlauben (/persona einwilligung an).
error-compare-needs-persona = Der Vergleichsmodus braucht eine Persona, und du hast auf diesem Server noch keine.

## /stats

stats = statistik
    .description = Wie oft Mitglieder hier das Bild mit ihrer Persona bevorzugt haben
stats-none = Noch keine Vergleiche. Probier /imagine mit persona: vergleichen aus und wähle das Bild, das dir besser gefällt.
stats-win-rate = Persona-Bilder haben { $rate } % von { $n } Vergleichen gewonnen ({ $wins } Siege; 95-%-Intervall { $low }–{ $high } %).
stats-refusals = Abgelehnte Anfragen: { $total } ({ $limits } über den Grenzen, { $blocklist } durch die Sperrliste des Servers, { $builtin } durch die eingebaute Liste, { $safety } Bilder von der Sicherheitsprüfung zurückgehalten).

queue = warteschlange
    .description = Deine Bilder in Arbeit: Platz in der Warteschlange, voraussichtliche Zeit, Abbrechen
queue-empty = Du hast hier keine Bilder in Arbeit.
queue-rendering = wird gerendert, Schritt { $step } von { $total }
queue-waiting = wartet, Platz { $position } in der Warteschlange
queue-waiting-eta = wartet, Platz { $position } in der Warteschlange, fertig { $eta }
queue-cancel = { $number } abbrechen
queue-server = Dieser Server hat { $here } Bilder in Arbeit ({ $everywhere } beim ganzen Bot).
queue-cancelled = Abgebrochen.
queue-not-cancelled = Dieses Bild ist nicht mehr in Arbeit (oder nicht deins), es wurde nichts abgebrochen.
render-cancelled = Du hast dieses Bild abgebrochen.

## Eingabefehler (nur für dich sichtbar)

error-prompt-empty = Gib mir bitte etwas zum Zeichnen: Der Prompt ist leer.
error-prompt-too-long = Dieser Prompt ist { $length } Zeichen lang; das Limit liegt bei { $max }. Bitte kürze ihn.
error-prompt-control = Der Prompt enthält unsichtbare Steuerzeichen. Bitte gib ihn als reinen Text neu ein.
error-negative-too-long = Der negative Prompt ist { $length } Zeichen lang; das Limit liegt bei { $max }.
error-negative-control = Der negative Prompt enthält unsichtbare Steuerzeichen. Bitte gib ihn als reinen Text neu ein.
error-prompt-cluster = Der Prompt enthält ein Zeichen mit Dutzenden übereinandergestapelten Zeichen. Bitte gib ihn als reinen Text neu ein.
error-negative-cluster = Der negative Prompt enthält ein Zeichen mit Dutzenden übereinandergestapelten Zeichen. Bitte gib ihn als reinen Text neu ein.
error-negative-empty = Der negative Prompt ist leer, sobald Leerzeichen und unsichtbare Zeichen entfernt sind.
error-seed-range = Der Seed muss eine ganze Zahl von 0 bis 4294967295 sein.
error-prompt-blocked = Das kann ich leider nicht zeichnen: Der Prompt verstößt gegen die Regeln dieses Servers oder von zipp.
error-limit-member-active = Du hast schon { $limit } Bilder in Arbeit. Bitte warte, bis eines fertig ist, und versuche es dann erneut.
error-limit-member-hourly = Du hast in der letzten Stunde { $limit } Bilder gestartet, mehr ist nicht erlaubt. Das nächste kannst du { $retry } starten.
error-limit-server-active = Dieser Server hat schon { $limit } Bilder in Arbeit. Bitte versuche es in ein paar Minuten erneut.
error-limit-server-hourly = Dieser Server hat in der letzten Stunde { $limit } Bilder gestartet, mehr ist nicht erlaubt. Das nächste kann { $retry } starten.
error-count-range = Die Anzahl muss zwischen 1 und { $max } liegen.
error-compare-count = Ein Vergleich ist ein Bilderpaar: Lass die Anzahl bei persona: vergleichen auf 1.
error-model-not-allowed = Dieser Server bietet dieses Modell nicht an. Du kannst wählen: { $models }.
error-limit-count = Das sind mehr Bilder, als hier in einer Stunde starten dürfen (höchstens { $limit }). Bitte wähle weniger.
error-model-unavailable = Das Bildmodell dieses Servers ist gerade nicht verfügbar. Ein Moderator kann ein anderes auswählen.

## Fehler beim Rendern (in der Antwort angezeigt)

render-error-internal = Entschuldige, das Rendern ist nach mehreren Versuchen fehlgeschlagen. Bitte versuch es später noch einmal.
render-error-crashed = Entschuldige, der Renderer ist bei der Arbeit an diesem Bild stehen geblieben. Bitte versuch es noch einmal.
render-error-model-unavailable = Entschuldige, das Bildmodell dieses Servers konnte nicht geladen werden. Ein Moderator muss die Konfiguration prüfen.
render-error-invalid-size = Entschuldige, dieses Modell kann in dieser Größe nicht rendern.
render-error-too-large = Entschuldige, ein so großes Bild passt nicht in den Speicher des Renderers. Versuche eine kleinere Größe oder ein anderes Format.
render-error-source-gone = Entschuldige, das Ausgangsbild wird nicht mehr aufbewahrt. Neu würfeln geht weiterhin.
render-error-timeout = Dieses Bild hat zu lange gebraucht, deshalb habe ich es abgebrochen. Bitte versuche es später erneut.
imagine-withheld = Die Sicherheitsprüfung hat dieses Bild markiert, deshalb wurde es hier nicht gepostet. Versuche einen anderen Prompt oder Seed.

## Allgemein

error-internal = Bei mir ist etwas schiefgelaufen. Das Team wurde informiert; bitte versuch es später noch einmal.

## /config (Moderatoren)

config = einstellungen
    .description = Konfiguriere zipp für diesen Server (Moderatoren)
config-show = anzeigen
    .description = Zeige die Einstellungen dieses Servers an
config-llm = llm
    .description = Wähle das LLM, das Prompts umformuliert
    .name = name
    .name-description = Ein Modell aus dem Katalog des Betreibers
config-diffusion = diffusion
    .description = Wähle das Diffusionsmodell, das Bilder rendert
    .name = name
    .name-description = Ein Modell aus dem Katalog des Betreibers
    .role = rolle
    .role-description = Das Modell des Servers (Standard), eines zur Auswahl für Mitglieder, oder entfernen
    .role-default = standard — das Modell des Servers
    .role-allow = erlauben — Mitglieder können es wählen
    .role-remove = entfernen — Mitglieder können es nicht mehr wählen
config-persona = persona
    .description = Schalte die Persona-Ableitung für diesen Server ein oder aus
    .state = status
    .state-description = an oder aus
    .state-on = an
    .state-off = aus
config-backfill = verlauf
    .description = Die Einwilligung umfasst auch die Aktivität der letzten Tage hier
    .state = status
    .state-description = an oder aus
    .state-on = an
    .state-off = aus
config-metadata = metadaten
    .description = Seed, Modell, Schritte und Prompt jedes Bildes in seine PNG-Datei schreiben
    .state = status
    .state-description = an oder aus
    .state-on = an
    .state-off = aus
config-default = Standard
config-settings = Einstellungen dieses Servers — Diffusionsmodell: { $diffusion }; LLM: { $llm }; Persona-Ableitung: { $persona }; Verlauf nachladen: { $backfill }; Bild-Metadaten: { $metadata }; Modelle zur Auswahl: { $choices }.
config-changed = { $setting } ist jetzt { $value }. Die Änderung steht im Audit-Log.
config-diffusion-choices = Mitglieder können diese Modelle mit /imagine model wählen: { $models }. Die Änderung steht im Prüfprotokoll.
config-name-diffusion = Das Diffusionsmodell
config-name-llm = Das LLM
config-name-persona = Die Persona-Ableitung
config-name-backfill = Das Nachladen des Verlaufs
config-name-metadata = Die Bild-Metadaten
config-value-on = an
config-value-off = aus
config-limits = limits
    .description = Die Grenzen dieses Servers für /imagine verschärfen (nie über die des Betreibers)
    .member_active = mitglied_gleichzeitig
    .member_active-description = Bilder, die ein Mitglied gleichzeitig in Arbeit haben darf
    .member_hourly = mitglied_pro_stunde
    .member_hourly-description = Bilder, die ein Mitglied pro Stunde starten darf
    .server_active = server_gleichzeitig
    .server_active-description = Bilder, die der ganze Server gleichzeitig in Arbeit haben darf
    .server_hourly = server_pro_stunde
    .server_hourly-description = Bilder, die der ganze Server pro Stunde starten darf
config-blocklist = sperrliste
    .description = Wörter und Wendungen, die dieser Server in Prompts ablehnt
config-blocklist-add = hinzufügen
    .description = Prompts mit diesem Wort oder dieser Wendung ablehnen
    .phrase = wendung
    .phrase-description = Ein Wort oder eine Wendung (Groß-/Kleinschreibung und unsichtbare Zeichen zählen nicht)
config-blocklist-remove = entfernen
    .description = Prompts mit diesem Wort oder dieser Wendung nicht mehr ablehnen
    .phrase = wendung
    .phrase-description = Ein Wort oder eine Wendung auf der Liste
config-blocklist-list = anzeigen
    .description = Die Sperrliste dieses Servers anzeigen
config-audit = protokoll
    .description = Die letzten Änderungen an den Einstellungen dieses Servers anzeigen
config-limits-now = Grenzen auf diesem Server — pro Mitglied: { $member_active } gleichzeitig, { $member_hourly } pro Stunde; ganzer Server: { $server_active } gleichzeitig, { $server_hourly } pro Stunde. Änderungen stehen im Protokoll.
config-name-member-active = Die Grenze pro Mitglied gleichzeitig
config-name-member-hourly = Die Grenze pro Mitglied pro Stunde
config-name-server-active = Die Grenze des Servers gleichzeitig
config-name-server-hourly = Die Grenze des Servers pro Stunde
config-blocklist-added = Zur Sperrliste hinzugefügt: Prompts damit werden ab jetzt abgelehnt. Die Änderung steht im Protokoll.
config-blocklist-already = Diese Wendung steht schon auf der Sperrliste.
config-blocklist-removed = Von der Sperrliste entfernt. Die Änderung steht im Protokoll.
config-blocklist-absent = Diese Wendung steht nicht auf der Sperrliste.
config-blocklist-empty = Die Sperrliste dieses Servers ist leer. Eine eingebaute Liste, die kein Server abschalten kann, gilt trotzdem.
config-blocklist-shown = Sperrliste ({ $count }): { $phrases }
config-audit-empty = Auf diesem Server wurden noch keine Einstellungen geändert.
config-audit-title = Letzte Änderungen, neueste zuerst:
config-audit-entry = { $when } — { $who } änderte { $setting }: { $old } → { $new }
config-audit-someone = ein Mitglied, das vergessen werden wollte
config-nsfw = nsfw
    .description = Was von der Sicherheitsprüfung markierte Bilder in altersbeschränkten Kanälen tun
    .policy = regel
    .policy-description = Außerhalb altersbeschränkter Kanäle werden sie nie gepostet
    .policy-block = sperren
    .policy-spoiler = spoiler
    .policy-allow = erlauben
config-name-nsfw = Markierte Bilder in altersbeschränkten Kanälen
config-value-nsfw-block = gesperrt
config-value-nsfw-spoiler = hinter einem Spoiler
config-value-nsfw-allow = erlaubt

## Fehler von /config

error-unknown-llm = Dieses LLM ist nicht im Katalog (oder nicht für Server freigegeben). Wähle eines aus der Liste.
error-unknown-diffusion = Dieses Diffusionsmodell ist nicht im Katalog (oder nicht für Server freigegeben). Wähle eines aus der Liste.
error-guild-only = Dieser Befehl funktioniert nur auf einem Server.
error-missing-permission = Für diesen Befehl brauchst du die Berechtigung „Server verwalten“.
error-limit-above-operator = Server können Grenzen nur verschärfen: jeder Wert muss zwischen 1 und { $max } liegen.
error-blocklist-empty = Diese Wendung ist leer, sobald Leerzeichen, Satzzeichen und unsichtbare Zeichen entfernt sind.
error-blocklist-too-long = Diese Wendung ist zu lang; erlaubt sind 100 Zeichen.
error-blocklist-full = Die Sperrliste ist voll ({ $max } Einträge). Entferne zuerst einen.

## /persona (jede Antwort ist nur für das Mitglied selbst sichtbar)

persona = persona
    .description = Deine Persona hier: ansehen, bearbeiten, aktualisieren; Einwilligung und deine Daten
persona-consent = einwilligung
    .description = Erlaube oder beende, dass zipp deinen Geschmack aus deiner Aktivität hier lernt
    .state = status
    .state-description = an: erlauben; aus: beenden und das Aufgezeichnete löschen
    .state-on = an
    .state-off = aus
persona-add-image = bild-hinzufügen
    .description = Füge ein Bild hinzu, das du liebst: Es zeigt zipp deinen Geschmack
    .image = bild
    .image-description = Ein PNG-, JPEG- oder WebP-Bild
persona-forget = vergessen
    .description = Lösche alles, was zipp auf diesem Server über dich speichert
persona-consent-prompt = Möchtest du Bilder nach deinem eigenen Geschmack? Wenn du zustimmst, zeichnet zipp auf, *in welchen* Kanälen du postest und reagierst, welche Rollen du hast und wem du antwortest oder wen du erwähnst (nur Mitglieder, die ebenfalls zugestimmt haben) — niemals, was du schreibst. Daraus leitet zipp eine kurze Persona ab, die nur du sehen und bearbeiten kannst, und nutzt sie, um deine Prompts für /imagine umzuformulieren. Du kannst jederzeit mit /persona einwilligung aus aufhören und mit /persona vergessen alles löschen.
persona-consent-prompt-backfill = Auf diesem Server werden mit deiner Zustimmung dieselben Metadaten auch für deine Nachrichten der letzten { $days } Tage erfasst.
persona-consent-accept = Zustimmen
persona-consent-later = Jetzt nicht
persona-consent-on = Danke! zipp lernt deinen Geschmack aus deiner Aktivität auf diesem Server. Du kannst jederzeit mit /persona einwilligung aus aufhören.
persona-consent-already = Du hast zipp bereits erlaubt, deinen Geschmack auf diesem Server zu lernen, also hat sich nichts geändert. Du kannst jederzeit mit /persona einwilligung aus aufhören.
persona-consent-off = Erledigt: zipp zeichnet deine Aktivität hier nicht mehr auf. Gelöscht: Interaktionszähler { $interactions } · Reaktionen auf deine Bilder { $feedback } · Bilder { $images } · Vergleichsauswahlen { $picks } · abgeleitete Personas { $personas }. Personas, die du selbst geschrieben hast, bleiben.
persona-consent-later-ack = Kein Problem: Von deiner Aktivität wird nichts aufgezeichnet. Du kannst später mit /persona einwilligung an zustimmen.
persona-forget-confirm = Damit wird alles gelöscht, was zipp auf diesem Server über dich speichert: aufgezeichnete Aktivität, Personas, deine Wahl bei Vergleichen, deine gerenderten Bilder (ausstehende werden abgebrochen) und deine Einwilligung. Das lässt sich nicht rückgängig machen.
persona-forget-button = Alles löschen
persona-forgotten = Erledigt: Alles, was zipp auf diesem Server über dich gespeichert hatte, ist gelöscht.
persona-show = anzeigen
    .description = Zeige deine Persona hier an: ihren Text, woher sie stammt und warum
persona-edit = bearbeiten
    .description = Schreibe oder ändere deine Persona selbst
persona-setup = einrichten
    .description = Beantworte vier kurze Fragen, um deine Persona zu erstellen
persona-reset = zurücksetzen
    .description = Verwirf deine eigene Version und kehre zur abgeleiteten Persona zurück
persona-refresh = aktualisieren
    .description = Lass deine Persona neu aus deiner jüngsten Aktivität ableiten
persona-history = verlauf
    .description = Frühere Versionen deiner Persona; stelle eine davon wieder her

## /persona anzeigen, bearbeiten, einrichten, zurücksetzen, aktualisieren, verlauf

persona-none = Du hast auf diesem Server noch keine Persona. Schreib eine mit /persona bearbeiten, beantworte vier kurze Fragen mit /persona einrichten oder lass zipp – falls du es mit /persona einwilligung an erlaubt hast – mit /persona aktualisieren eine ableiten.
persona-show-header = **Deine Persona** — Version { $version }, { $source }, { $date }
persona-source-inferred = aus deiner Aktivität abgeleitet
persona-source-edited = von dir geschrieben
persona-source-questionnaire = aus deinen Antworten auf /persona einrichten
persona-show-pinned = Deine eigene Version bleibt in Gebrauch, auch wenn zipp eine neue ableitet, bis du /persona zurücksetzen ausführst.
persona-show-evidence = Warum: Am stärksten gewichtet wurden die Kanäle { $channels }.
persona-show-evidence-roles = Berücksichtigte Rollen: { $roles }.
persona-show-evidence-prompts = Außerdem verwendet: { $count } deiner letzten Prompts für /imagine.
persona-show-evidence-liked = Bilder, die dir gefallen haben (mit Reaktion oder im Vergleich gewählt): { $count }.
persona-show-evidence-image-taste = Der Stil der Bilder, mit denen Mitglieder wie du hier zu tun haben, so wie der Persona-Encoder dich einordnet: { $looks }.
persona-show-private = Nur du kannst sie sehen. /imagine nutzt sie, um deine Prompts umzuformulieren (überspringe sie mit persona: aus).
persona-button-edit = Bearbeiten
persona-button-history = Verlauf
persona-not-yours = Nur das Mitglied, das dieses Bild erstellt hat, kann die dafür verwendete Persona öffnen.
persona-gone = Diese Persona-Version gibt es nicht mehr.

persona-edit-title = Deine Persona
persona-edit-label = Wer du bist und was du gern siehst
persona-edit-placeholder = Ich bin … und liebe … Meine Lieblingsbilder sind …
persona-setup-title = Erzähl zipp von dir
persona-setup-who = Wer bist du?
persona-setup-who-placeholder = z. B. Pflegekraft im Nachtdienst aus Lyon
persona-setup-work = Was machst du?
persona-setup-work-placeholder = z. B. Ich restauriere alte Fahrräder und zeichne Comics
persona-setup-love = Was liebst du?
persona-setup-love-placeholder = z. B. Jazz, Städte im Regen, meine zwei Katzen
persona-setup-visual = Welche Bilder magst du?
persona-setup-visual-placeholder = z. B. gedeckte Farben, Filmkorn, stille Straßen in der Dämmerung
persona-questionnaire-who = Ich bin { $answer }.
persona-questionnaire-work = Was ich mache: { $answer }.
persona-questionnaire-love = Ich liebe { $answer }.
persona-questionnaire-visual = Optisch mag ich { $answer }.
persona-saved = Gespeichert: Deine Persona ist jetzt Version { $version }, und /imagine nutzt sie ab deinem nächsten Prompt. Nur du kannst sie sehen.
error-persona-empty = Diese Persona ist leer, sobald Leerzeichen, unsichtbare Zeichen und Erwähnungen entfernt sind. Bitte schreib ein paar Worte über dich.
error-persona-too-long = Diese Persona ist { $length } Zeichen lang; das Limit liegt bei { $max }. Hier ist, was du geschrieben hast, damit du es kürzen kannst:
error-persona-control = Diese Persona enthält unsichtbare Steuerzeichen, deshalb habe ich sie nicht gespeichert. Hier ist dein Text, damit du ihn als reinen Text neu eingeben kannst.
error-persona-cluster = Diese Persona enthält ein Zeichen mit Dutzenden übereinandergestapelten Zeichen, deshalb habe ich sie nicht gespeichert. Hier ist dein Text, damit du ihn als reinen Text neu eingeben kannst.
error-answer-control = Eine deiner Antworten enthält unsichtbare Steuerzeichen, deshalb habe ich sie nicht gespeichert. Hier ist dein Text, damit du ihn als reinen Text neu eingeben kannst.
error-answer-cluster = Eine deiner Antworten enthält ein Zeichen mit Dutzenden übereinandergestapelten Zeichen, deshalb habe ich sie nicht gespeichert. Hier ist dein Text, damit du ihn als reinen Text neu eingeben kannst.
error-answer-too-long = Eine deiner Antworten ist { $length } Zeichen lang; erlaubt sind { $max }. Hier ist dein Text, damit du ihn kürzen kannst:
error-answer-empty = Diese Antwort ist leer, sobald Leerzeichen, unsichtbare Zeichen und Erwähnungen entfernt sind.

persona-reset-done = Zurück zur abgeleiteten Persona (Version { $version }); /imagine nutzt ab jetzt diese.
persona-reset-none = Es gibt noch keine abgeleitete Persona, zu der du zurückkehren könntest, deshalb bleibt deine aktuelle Persona. Mit /persona aktualisieren bittest du zipp, eine abzuleiten.
persona-reset-already = Du nutzt bereits die abgeleitete Persona.
persona-refresh-done = Erledigt: zipp hat eine neue Persona für dich abgeleitet (Version { $version }). Sieh sie dir mit /persona anzeigen an.
persona-refresh-kept = Erledigt: zipp hat eine neue Persona abgeleitet (Version { $version }), aber deine eigene Version bleibt bis /persona zurücksetzen in Gebrauch.
persona-refresh-cooldown = Du hast deine Persona vor Kurzem aktualisiert. Du kannst sie in { $minutes } Min. wieder aktualisieren.
persona-refresh-no-consent = zipp kann eine Persona nur dann aus deiner Aktivität ableiten, wenn du es erlaubst: /persona einwilligung an. Du kannst auch selbst eine mit /persona bearbeiten schreiben.
persona-refresh-disabled = Die Moderatoren haben die Persona-Ableitung für diesen Server ausgeschaltet. Du kannst trotzdem mit /persona bearbeiten oder /persona einrichten deine eigene Persona schreiben.
persona-refresh-unavailable = Die Persona-Ableitung ist gerade nicht verfügbar (es ist kein trainiertes Modell geladen). Du kannst trotzdem mit /persona bearbeiten oder /persona einrichten deine eigene Persona schreiben.
persona-refresh-no-activity = zipp hat hier noch nicht genug von deiner Aktivität gesehen, um eine Persona abzuleiten. Poste und reagiere ein bisschen und versuch es dann noch einmal — oder schreib selbst eine mit /persona bearbeiten.
persona-history-header = Deine Persona-Versionen, neueste zuerst:
persona-history-line = **v{ $version }** · { $source } · { $date }{ $active } — { $excerpt }
persona-history-in-use = (aktiv)
persona-history-pick = Eine Version wiederherstellen…
persona-history-option = Version { $version } ({ $source })
persona-restored = Version { $version } wiederhergestellt; /imagine nutzt sie ab jetzt.

## /persona add-image

persona-image-added = Hinzugefügt: Dieses Bild zählt jetzt für deinen Geschmack. Gespeichert wird nur seine CLIP-Einbettung, nicht das Bild; /persona vergessen löscht sie.
error-image-no-consent = Bilder, die du hinzufügst, zählen für deine Persona, daher braucht zipp zuerst deine Einwilligung: /persona einwilligung an.
error-image-inference-off = Die Moderation dieses Servers hat das Persona-Lernen ausgeschaltet, daher können hier keine Bilder hinzugefügt werden.
error-image-unavailable = Bilder hinzufügen ist bei diesem Bot gerade nicht möglich (kein Bildmodell eingerichtet).
error-image-type = Diese Datei ist kein PNG-, JPEG- oder WebP-Bild. Bitte hänge eines davon an.
error-image-too-large = Diese Datei ist zu groß; die Grenze liegt bei { $max } MB.
error-image-too-many-pixels = Dieses Bild hat zu viele Pixel; die Grenze liegt bei { $max } Megapixeln.
error-image-unreadable = Ich konnte dieses Bild nicht lesen: Es ist vielleicht abgeschnitten oder beschädigt. Bitte versuche eine andere Datei.

## /settings

settings = vorgaben
    .description = Deine Standardwerte für /imagine auf diesem Server
    .aspect = format
    .aspect-description = Die Form deiner Bilder, wenn du keine angibst
    .aspect-square = 1:1 quadratisch
    .aspect-landscape = 4:3 quer
    .aspect-portrait = 3:4 hoch
    .aspect-photo = 3:2 Foto
    .aspect-photo-portrait = 2:3 Foto, hoch
    .aspect-wide = 16:9 breit
    .aspect-tall = 9:16 schmal
    .persona = persona
    .persona-description = Ob deine Persona deine Prompts umschreibt, wenn du nichts angibst
    .persona-on = an
    .persona-off = aus
    .count = anzahl
    .count-description = Wie viele Bilder /imagine macht, wenn du keine Anzahl angibst
    .reset = zuruecksetzen
    .reset-description = Deine Standardwerte vergessen
settings-shown = Deine Standardwerte auf diesem Server — Form: { $aspect }; Persona: { $persona }; Bilder: { $count }. Die Optionen von /imagine haben Vorrang.
settings-aspect-model = die des Modells
settings-persona-on = an
settings-persona-off = aus
settings-reset-done = Deine Standardwerte sind gelöscht: /imagine nutzt wieder die Form des Modells und deine Persona.
