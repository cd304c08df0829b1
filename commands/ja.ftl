# zipp — 日本語。スラッシュコマンドのテキストと返信はすべてここにあります。
# コマンドのメタデータは poise の規約に従います: `command = name`、`.description`、
# `.PARAM = name`、`.PARAM-description`。名前は小文字で 32 文字以内、説明は 100 文字以内です。
# 返信の中でコマンドに触れるときは、このファイルのローカライズ名を「」で囲んで書きます。

## コマンド

imagine = 画像生成
    .description = プロンプトから画像を生成します
    .prompt = プロンプト
    .prompt-description = 描いてほしいもの
    .seed = シード
    .seed-description = 同じ画像を再現するためのシード値（0〜4294967295）
    .negative = ネガティブ
    .negative-description = 画像に入れたくないもの
    .persona = ペルソナ
    .persona-description = ペルソナを使う（オン）、使わない（オフ）、または両方を並べて比較します
    .persona-on = オン
    .persona-off = オフ
    .persona-compare = 比較
    .aspect = アスペクト比
    .aspect-description = 画像の形（デフォルト: モデル本来の形）
    .aspect-square = 1:1 正方形
    .aspect-landscape = 4:3 横長
    .aspect-portrait = 3:4 縦長
    .aspect-photo = 3:2 写真
    .aspect-photo-portrait = 2:3 写真（縦）
    .aspect-wide = 16:9 ワイド
    .aspect-tall = 9:16 縦長ワイド
    .count = 枚数
    .count-description = 何枚描くか（1〜4、1枚のグリッドで表示）
    .model = モデル
    .model-description = このサーバーが提供するモデル（既定: サーバーのモデル）

## 「/画像生成」の返信

imagine-queued = 順番待ち中です — { $position } 番目。生成の進み具合に合わせてこのメッセージを更新します。
imagine-rendering = 生成中です — ステップ { $step }/{ $total }…
imagine-rendering-started = 生成中です…
imagine-done = { $seconds } 秒で完了しました。
imagine-result = 画像ができました。
imagine-result-grid = { $count } 枚の画像ができました。U で1枚を拡大、V でその1枚のバリエーションを作ります。
imagine-upscale-cell-button = U{ $n }
imagine-vary-cell-button = V{ $n }
imagine-late-delivery = 生成に時間がかかり、Discord で元の返信を編集できる時間を過ぎてしまったため、こちらでお届けします。
imagine-downscaled = このサーバーのアップロード上限に収めるため、画像を { $width }×{ $height } に縮小しました。
imagine-too-large = 画像がこのサーバーのアップロード上限を超えているため、添付できませんでした。
imagine-field-prompt = プロンプト
imagine-field-rendered = 生成に使ったプロンプト
imagine-field-model = モデル
imagine-field-seed = シード
imagine-field-time = 時間
imagine-field-rewrite = 書き換え
imagine-field-persona = ペルソナ
imagine-persona-version = バージョン { $version }（{ $source }）
imagine-persona-button = 自分のペルソナを開く
imagine-reroll-button = 再生成
imagine-again-not-yours = この画像から新しい画像を作れるのは、画像を作成したメンバーだけです。
imagine-plain-button = ペルソナなし
imagine-vary-subtle-button = バリエーション（弱）
imagine-vary-strong-button = バリエーション（強）
imagine-upscale-button = 2倍に拡大
imagine-derive-gone = この画像はもう保存されていないため、バリエーションも拡大もできません。再生成は使えます。
imagine-derive-unavailable = 左右比較の画像はバリエーションも拡大もできません。片方を選んでから再生成してください。
imagine-info-button = 情報
imagine-info = **この画像について** — モデル { $model }、シード { $seed }、{ $steps } ステップ、{ $width }×{ $height }。
    入力したプロンプト: { $prompt }
    描画したプロンプト: { $rendered }
    ネガティブプロンプト: { $negative }
    ペルソナ: { $persona }
imagine-info-derived = 画像 { $parent } から「{ $how }」で作成。
imagine-info-none = なし
imagine-info-not-yours = この画像の詳細を見られるのは、画像を作成したメンバーだけです。
imagine-info-gone = この画像の詳細はもう保存されていません。
imagine-field-left = 左
imagine-field-right = 右
imagine-compare-result = 同じシードで 2 つのプロンプトを使いました。1 つはあなたのペルソナに合わせて書き換えたもの、もう 1 つは入力されたままのものです。どちらが好みですか？

## 比較モード

compare-left-better = 左のほうが良い
compare-right-better = 右のほうが良い
compare-not-yours = この画像をリクエストしたメンバーだけが選べます。
compare-already-picked = この画像ではすでに選択済みです。最初の選択が有効です。
compare-unknown = この比較はもう存在しません。
compare-pick-not-kept = ありがとうございます。選択は表示されますが保存はされません。zipp は学習を許可したメンバーの選択だけを保存します（/ペルソナ 同意 オン）。
error-compare-needs-persona = 比較モードにはペルソナが必要ですが、このサーバーにはまだあなたのペルソナがありません。

## 「/統計」

stats = 統計
    .description = このサーバーのメンバーがペルソナを使った画像を選んだ割合
stats-none = まだ比較がありません。「/画像生成」を「ペルソナ: 比較」で実行し、好きなほうの画像を選んでみてください。
stats-win-rate = ペルソナを使った画像は { $n } 回の比較のうち { $rate }% で選ばれました（{ $wins } 勝、95% 区間 { $low }〜{ $high }%）。
stats-refusals = 拒否されたリクエスト: { $total } 件(上限超過 { $limits }、サーバーのブロックリスト { $blocklist }、組み込みリスト { $builtin }、安全チェックで保留した画像 { $safety })。

queue = キュー
    .description = 生成中の画像: キュー内の順番、完了予定、キャンセルボタン
queue-empty = ここで生成中の画像はありません。
queue-rendering = 生成中、ステップ { $step } / { $total }
queue-waiting = 待機中、キューの { $position } 番目
queue-waiting-eta = 待機中、キューの { $position } 番目、完了予定 { $eta }
queue-cancel = { $number } をキャンセル
queue-server = このサーバーでは { $here } 枚の画像が生成中です(ボット全体で { $everywhere } 枚)。
queue-cancelled = キャンセルしました。
queue-not-cancelled = その画像はもう生成中ではない(またはあなたのものではない)ため、何もキャンセルしていません。
render-cancelled = この画像はキャンセルされました。

## 入力エラー（あなたにだけ表示されます）

error-prompt-empty = 描くものを入力してください。プロンプトが空です。
error-prompt-too-long = プロンプトが { $length } 文字あります。上限は { $max } 文字です。短くしてください。
error-prompt-control = プロンプトに目に見えない制御文字が含まれています。プレーンテキストで入力し直してください。
error-negative-too-long = ネガティブプロンプトが { $length } 文字あります。上限は { $max } 文字です。
error-negative-control = ネガティブプロンプトに目に見えない制御文字が含まれています。プレーンテキストで入力し直してください。
error-prompt-cluster = プロンプトに、記号が何十個も重ねられた文字が含まれています。プレーンテキストで入力し直してください。
error-negative-cluster = ネガティブプロンプトに、記号が何十個も重ねられた文字が含まれています。プレーンテキストで入力し直してください。
error-negative-empty = 空白と目に見えない文字を取り除くと、ネガティブプロンプトは空になります。
error-seed-range = シードは 0 から 4294967295 までの整数で指定してください。
error-prompt-blocked = 申し訳ありませんが、それは描けません。プロンプトがこのサーバーまたは zipp のルールに反しています。
error-limit-member-active = すでに { $limit } 枚の画像を生成中です。1枚が終わるのを待ってから、もう一度お試しください。
error-limit-member-hourly = 直近1時間に { $limit } 枚の画像を開始しました。これが上限です。次は { $retry } に開始できます。
error-limit-server-active = このサーバーではすでに { $limit } 枚の画像を生成中です。数分後にもう一度お試しください。
error-limit-server-hourly = このサーバーでは直近1時間に { $limit } 枚の画像が開始されました。これが上限です。次は { $retry } に開始できます。
error-count-range = 枚数は 1 から { $max } の間で指定してください。
error-compare-count = 比較は画像2枚の1組です。ペルソナ: 比較 では枚数を 1 のままにしてください。
error-model-not-allowed = このサーバーはそのモデルを提供していません。選べるモデル: { $models }。
error-limit-count = このサーバーで1時間に開始できる枚数（最大 { $limit } 枚）を超えています。枚数を減らしてください。
error-model-unavailable = このサーバーで使っている画像モデルは現在利用できません。モデレーターが別のモデルを選べます。

## 生成の失敗（返信に表示されます）

render-error-internal = 申し訳ありません。何度か試しましたが、生成に失敗しました。しばらくしてからもう一度お試しください。
render-error-crashed = 申し訳ありません。この画像の生成中にレンダラーが停止しました。もう一度お試しください。
render-error-model-unavailable = 申し訳ありません。このサーバーの画像モデルを読み込めませんでした。モデレーターによる設定の確認が必要です。
render-error-invalid-size = 申し訳ありません。このモデルではそのサイズの画像を生成できません。
render-error-too-large = 申し訳ありません。この大きさの画像はレンダラーのメモリに収まりません。小さいサイズか別の形を試してください。
render-error-source-gone = 申し訳ありません。元の画像はもう保存されていません。再生成は使えます。
render-error-timeout = 申し訳ありません。この画像は生成に時間がかかりすぎたため中止しました。後でもう一度お試しください。
imagine-withheld = 安全チェックでこの画像が検出されたため、ここには投稿しませんでした。別のプロンプトかシードをお試しください。

## 全般

error-internal = こちら側で問題が発生しました。チームには通知済みです。しばらくしてからもう一度お試しください。

## 「/設定」（モデレーター向け）

config = 設定
    .description = このサーバーでの zipp の設定を行います（モデレーター向け）
config-show = 表示
    .description = このサーバーの設定を表示します
config-llm = 言語モデル
    .description = プロンプトを書き換える LLM を選びます
    .name = 名前
    .name-description = 運営者のカタログにあるモデル
config-diffusion = 拡散モデル
    .description = 画像を生成する拡散モデルを選びます
    .name = 名前
    .name-description = 運営者のカタログにあるモデル
    .role = 役割
    .role-description = サーバーのモデル（既定）、メンバーが選べるモデル、または選択肢から外す
    .role-default = 既定 — サーバーのモデル
    .role-allow = 許可 — メンバーが選べる
    .role-remove = 削除 — メンバーはもう選べない
config-persona = ペルソナ
    .description = このサーバーでのペルソナ推定をオンまたはオフにします
    .state = 状態
    .state-description = オンまたはオフ
    .state-on = オン
    .state-off = オフ
config-backfill = 履歴
    .description = 同意の対象に、このサーバーでの直近数日間の活動も含めます
    .state = 状態
    .state-description = オンまたはオフ
    .state-on = オン
    .state-off = オフ
config-metadata = メタデータ
    .description = 各画像のシード・モデル・ステップ数・プロンプトを PNG ファイルに書き込みます
    .state = 状態
    .state-description = オンまたはオフ
    .state-on = オン
    .state-off = オフ
config-default = デフォルト
config-settings = このサーバーの設定 — 拡散モデル: { $diffusion }、LLM: { $llm }、ペルソナ推定: { $persona }、履歴の遡及取得: { $backfill }、画像のメタデータ: { $metadata }、メンバーが選べるモデル: { $choices }。
config-changed = { $setting } を { $value } に変更しました。この変更は監査ログに記録されています。
config-diffusion-choices = メンバーは /画像生成 の model でこれらのモデルを選べます: { $models }。変更は監査ログに記録されました。
config-name-diffusion = 拡散モデル
config-name-llm = LLM
config-name-persona = ペルソナ推定
config-name-backfill = 履歴の遡及取得
config-name-metadata = 画像のメタデータ
config-value-on = オン
config-value-off = オフ
config-limits = 上限
    .description = このサーバーの /imagine の上限を厳しくします(運営者の値を超えられません)
    .member_active = メンバー同時
    .member_active-description = 1人のメンバーが同時に生成中にできる画像数
    .member_hourly = メンバー毎時
    .member_hourly-description = 1人のメンバーが1時間に開始できる画像数
    .server_active = サーバー同時
    .server_active-description = サーバー全体で同時に生成中にできる画像数
    .server_hourly = サーバー毎時
    .server_hourly-description = サーバー全体で1時間に開始できる画像数
config-blocklist = ブロックリスト
    .description = このサーバーがプロンプトで拒否する語句
config-blocklist-add = 追加
    .description = この語句を含むプロンプトを拒否します
    .phrase = 語句
    .phrase-description = 語句(大文字小文字・全角半角・見えない文字は区別しません)
config-blocklist-remove = 削除
    .description = この語句を含むプロンプトの拒否をやめます
    .phrase = 語句
    .phrase-description = リストにある語句
config-blocklist-list = 表示
    .description = このサーバーのブロックリストを表示します
config-audit = 監査ログ
    .description = このサーバーの設定の最近の変更を表示します
config-limits-now = このサーバーの上限 — メンバーごと: 同時 { $member_active }、1時間 { $member_hourly }。サーバー全体: 同時 { $server_active }、1時間 { $server_hourly }。変更は監査ログに記録されています。
config-name-member-active = メンバーごとの同時上限
config-name-member-hourly = メンバーごとの1時間の上限
config-name-server-active = サーバーの同時上限
config-name-server-hourly = サーバーの1時間の上限
config-blocklist-added = ブロックリストに追加しました。今後これを含むプロンプトは拒否されます。この変更は監査ログに記録されています。
config-blocklist-already = その語句はすでにブロックリストにあります。
config-blocklist-removed = ブロックリストから削除しました。この変更は監査ログに記録されています。
config-blocklist-absent = その語句はブロックリストにありません。
config-blocklist-empty = このサーバーのブロックリストは空です。どのサーバーも無効にできない組み込みリストは引き続き適用されます。
config-blocklist-shown = ブロックリスト({ $count }件): { $phrases }
config-audit-empty = このサーバーではまだ設定が変更されていません。
config-audit-title = 最近の変更(新しい順):
config-audit-entry = { $when } — { $who } が { $setting } を変更: { $old } → { $new }
config-audit-someone = 忘れられることを希望したメンバー
config-nsfw = nsfw
    .description = 安全チェックで検出された画像を年齢制限チャンネルでどう扱うか
    .policy = 方針
    .policy-description = どれを選んでも年齢制限チャンネル以外には投稿されません
    .policy-block = ブロック
    .policy-spoiler = スポイラー
    .policy-allow = 許可
config-name-nsfw = 年齢制限チャンネルでの検出画像
config-value-nsfw-block = ブロック
config-value-nsfw-spoiler = スポイラー付き
config-value-nsfw-allow = 許可

## 「/設定」のエラー

error-unknown-llm = その LLM はカタログにありません（またはサーバーでは利用できません）。リストから選んでください。
error-unknown-diffusion = その拡散モデルはカタログにありません（またはサーバーでは利用できません）。リストから選んでください。
error-guild-only = このコマンドはサーバー内でのみ使えます。
error-missing-permission = このコマンドを使うには「サーバー管理」権限が必要です。
error-limit-above-operator = サーバーは上限を厳しくすることしかできません。各値は 1 から { $max } までです。
error-blocklist-empty = 空白・句読点・見えない文字を除くと、その語句は空になります。
error-blocklist-too-long = その語句は長すぎます。上限は100文字です。
error-blocklist-full = ブロックリストがいっぱいです({ $max }件)。先に1つ削除してください。

## 「/ペルソナ」（返信はすべて本人にだけ表示されます）

persona = ペルソナ
    .description = このサーバーでのあなたのペルソナ：表示・編集・更新、同意とデータの管理
persona-consent = 同意
    .description = このサーバーでの活動から zipp があなたの好みを学習することを許可または停止します
    .state = 状態
    .state-description = オン：許可する／オフ：停止して、記録済みの内容を削除する
    .state-on = オン
    .state-off = オフ
persona-add-image = 画像を追加
    .description = 好きな画像を追加すると、あなたの好みが zipp に伝わります
    .image = 画像
    .image-description = PNG・JPEG・WebP 画像
persona-forget = データ削除
    .description = このサーバーで zipp が保持しているあなたの情報をすべて削除します
persona-consent-prompt = あなた好みの画像を作ってみませんか？ 同意すると、zipp はあなたが*どの*チャンネルで投稿やリアクションをしているか、どのロールを持っているか、誰に返信やメンションをしているか（同じく同意したメンバーに限ります）を記録します。あなたが書いた内容は一切記録しません。その記録から、あなただけが閲覧・編集できる短いペルソナを推定し、「/画像生成」のプロンプトの書き換えに使います。「/ペルソナ 同意 オフ」でいつでも停止でき、「/ペルソナ データ削除」ですべて消去できます。
persona-consent-prompt-backfill = このサーバーでは、同意すると過去 { $days } 日間のあなたのメッセージについても同じメタデータが記録されます。
persona-consent-accept = 同意する
persona-consent-later = 今はしない
persona-consent-on = ありがとうございます！ このサーバーでのあなたの活動から、zipp が好みを学習します。「/ペルソナ 同意 オフ」でいつでも停止できます。
persona-consent-already = このサーバーでは、すでに zipp が好みを学習することを許可しています。変更はありません。「/ペルソナ 同意 オフ」でいつでも停止できます。
persona-consent-off = 完了しました。zipp はこのサーバーでのあなたの活動を記録しなくなりました。削除した内容：交流の集計 { $interactions } · 画像へのリアクション { $feedback } · 画像 { $images } · 比較の選択 { $picks } · 推定ペルソナ { $personas }。あなたが書いたペルソナは残ります。
persona-consent-later-ack = 承知しました。あなたの活動は何も記録されません。あとから「/ペルソナ 同意 オン」で同意できます。
persona-forget-confirm = このサーバーで zipp が保持しているあなたの情報をすべて削除します。対象は、記録された活動、ペルソナ、比較での選択、あなたが生成した画像（処理待ちのものはキャンセルされます）、同意の設定です。この操作は取り消せません。
persona-forget-button = すべて削除
persona-forgotten = 完了しました。このサーバーで zipp が保持していたあなたの情報はすべて削除されました。
persona-show = 表示
    .description = このサーバーでのあなたのペルソナを、本文・出どころ・根拠とともに表示します
persona-edit = 編集
    .description = ペルソナを自分で書いたり変更したりします
persona-setup = セットアップ
    .description = 4 つの短い質問に答えてペルソナを作ります
persona-reset = リセット
    .description = 自分で書いたバージョンをやめて、推定されたペルソナに戻します
persona-refresh = 更新
    .description = 最近の活動からペルソナを推定し直します
persona-history = 履歴
    .description = ペルソナの以前のバージョンを表示し、復元できます

## 「/ペルソナ」表示・編集・セットアップ・リセット・更新・履歴

persona-none = このサーバーにはまだあなたのペルソナがありません。「/ペルソナ 編集」で自分で書くか、「/ペルソナ セットアップ」で 4 つの短い質問に答えてください。「/ペルソナ 同意 オン」で許可している場合は、「/ペルソナ 更新」で zipp に推定させることもできます。
persona-show-header = **あなたのペルソナ** — バージョン { $version }、{ $source }、{ $date }
persona-source-inferred = 活動から推定
persona-source-edited = 自分で作成
persona-source-questionnaire = 「/ペルソナ セットアップ」の回答から作成
persona-show-pinned = zipp が新しいペルソナを推定しても、「/ペルソナ リセット」を実行するまでは自分で書いたバージョンが使われます。
persona-show-evidence = 根拠：特に重視されたチャンネルは { $channels } です。
persona-show-evidence-roles = 考慮されたロール：{ $roles }
persona-show-evidence-prompts = 最近の「/画像生成」のプロンプト { $count } 件も参考にしました。
persona-show-evidence-liked = 気に入った画像（リアクションした画像、比較で選んだ画像）: { $count } 枚。
persona-show-evidence-image-taste = ペルソナエンコーダーの推定による、このサーバーであなたに近いメンバーが好む画像の雰囲気: { $looks }。
persona-show-private = これはあなたにだけ表示されています。「/画像生成」はこのペルソナを使ってプロンプトを書き換えます（使わない場合は「ペルソナ: オフ」を指定してください）。
persona-button-edit = 編集
persona-button-history = 履歴
persona-not-yours = 使われたペルソナを開けるのは、この画像を作成したメンバーだけです。
persona-gone = そのバージョンのペルソナはもう存在しません。

persona-edit-title = あなたのペルソナ
persona-edit-label = あなたはどんな人で、どんなものを見たいですか
persona-edit-placeholder = 私は…で、…が大好きです。好きな画像は…
persona-setup-title = zipp にあなたのことを教えてください
persona-setup-who = あなたはどんな人ですか？
persona-setup-who-placeholder = 例：リヨンで夜勤をしている看護師
persona-setup-work = 普段は何をしていますか？
persona-setup-work-placeholder = 例：古い自転車を修理したり、漫画を描いたりしています
persona-setup-love = 好きなものは何ですか？
persona-setup-love-placeholder = 例：ジャズ、雨の街、2 匹の飼い猫
persona-setup-visual = どんな画像が好きですか？
persona-setup-visual-placeholder = 例：落ち着いた色合い、フィルムの粒子感、夕暮れの静かな通り
persona-questionnaire-who = 私は{ $answer }です。
persona-questionnaire-work = 私がしていること：{ $answer }。
persona-questionnaire-love = 私が好きなのは{ $answer }です。
persona-questionnaire-visual = ビジュアル面では、{ $answer }が好きです。
persona-saved = 保存しました。あなたのペルソナはバージョン { $version } になり、次のプロンプトから「/画像生成」で使われます。あなたにだけ表示されます。
error-persona-empty = 空白、目に見えない文字、メンションを取り除くと、このペルソナは空になります。あなた自身について少し書いてください。
error-persona-too-long = このペルソナは { $length } 文字あります。上限は { $max } 文字です。短くできるよう、入力した内容を以下に表示します：
error-persona-control = このペルソナには目に見えない制御文字が含まれているため、保存しませんでした。書いた内容を添えますので、プレーンテキストで入力し直してください。
error-persona-cluster = このペルソナには記号が何十個も重ねられた文字が含まれているため、保存しませんでした。書いた内容を添えますので、プレーンテキストで入力し直してください。
error-answer-control = 回答のひとつに目に見えない制御文字が含まれているため、保存しませんでした。書いた内容を添えますので、プレーンテキストで入力し直してください。
error-answer-cluster = 回答のひとつに記号が何十個も重ねられた文字が含まれているため、保存しませんでした。書いた内容を添えますので、プレーンテキストで入力し直してください。
error-answer-too-long = 回答のひとつが { $length } 文字あります。上限は { $max } 文字です。短くできるよう、書いた内容を添えます:
error-answer-empty = 空白、目に見えない文字、メンションを取り除くと、この回答は空になります。

persona-reset-done = 推定されたペルソナ（バージョン { $version }）に戻しました。今後は「/画像生成」でこちらが使われます。
persona-reset-none = 戻れる推定ペルソナがまだないため、現在のペルソナをそのまま使います。「/ペルソナ 更新」で zipp にペルソナを推定させることができます。
persona-reset-already = すでに推定されたペルソナを使っています。
persona-refresh-done = 完了しました。zipp があなたの新しいペルソナを推定しました（バージョン { $version }）。「/ペルソナ 表示」で確認できます。
persona-refresh-kept = 完了しました。zipp が新しいペルソナを推定しました（バージョン { $version }）が、「/ペルソナ リセット」を実行するまでは自分で書いたバージョンが使われます。
persona-refresh-cooldown = 最近ペルソナを更新したばかりです。{ $minutes } 分後にもう一度更新できます。
persona-refresh-no-consent = zipp が活動からペルソナを推定するには、あなたの許可が必要です：「/ペルソナ 同意 オン」。「/ペルソナ 編集」で自分で書くこともできます。
persona-refresh-disabled = モデレーターがこのサーバーでのペルソナ推定をオフにしています。「/ペルソナ 編集」または「/ペルソナ セットアップ」で自分のペルソナを書くことはできます。
persona-refresh-unavailable = ペルソナ推定は現在利用できません（学習済みモデルが読み込まれていません）。「/ペルソナ 編集」または「/ペルソナ セットアップ」で自分のペルソナを書くことはできます。
persona-refresh-no-activity = ペルソナを推定できるほど、zipp はこのサーバーでのあなたの活動をまだ把握していません。少し投稿やリアクションをしてからもう一度お試しいただくか、「/ペルソナ 編集」で自分で書いてください。
persona-history-header = ペルソナのバージョン（新しい順）：
persona-history-line = **v{ $version }** · { $source } · { $date }{ $active } — { $excerpt }
persona-history-in-use = （使用中）
persona-history-pick = 復元するバージョンを選択…
persona-history-option = バージョン { $version }（{ $source }）
persona-restored = バージョン { $version } を復元しました。今後は「/画像生成」でこちらが使われます。

## /persona add-image

persona-image-added = 追加しました。この画像はあなたの好みに反映されます。保存されるのは画像そのものではなく CLIP 埋め込みだけで、「/ペルソナ データ削除」で消去できます。
error-image-no-consent = 追加した画像はペルソナに反映されるため、先に同意が必要です: 「/ペルソナ 同意 オン」。
error-image-inference-off = このサーバーのモデレーターがペルソナの学習をオフにしているため、ここでは画像を追加できません。
error-image-unavailable = このボットでは現在、画像を追加できません（画像モデルが設定されていません）。
error-image-type = このファイルは PNG・JPEG・WebP 画像ではありません。いずれかの形式の画像を添付してください。
error-image-too-large = ファイルが大きすぎます。上限は { $max } MB です。
error-image-too-many-pixels = 画像のピクセル数が多すぎます。上限は { $max } メガピクセルです。
error-image-unreadable = この画像を読み込めませんでした。途中で切れているか、破損している可能性があります。別のファイルをお試しください。

## /settings

settings = 既定値
    .description = このサーバーでの /画像生成 のデフォルト
    .aspect = アスペクト比
    .aspect-description = 指定しないときの画像の形
    .aspect-square = 1:1 正方形
    .aspect-landscape = 4:3 横長
    .aspect-portrait = 3:4 縦長
    .aspect-photo = 3:2 写真
    .aspect-photo-portrait = 2:3 写真（縦）
    .aspect-wide = 16:9 ワイド
    .aspect-tall = 9:16 縦長ワイド
    .persona = ペルソナ
    .persona-description = 指定しないときにペルソナでプロンプトを書き換えるかどうか
    .persona-on = オン
    .persona-off = オフ
    .count = 枚数
    .count-description = 枚数を指定しないときに /画像生成 が描く枚数
    .reset = リセット
    .reset-description = デフォルトを消去します
settings-shown = このサーバーでのデフォルト — 形: { $aspect }、ペルソナ: { $persona }、枚数: { $count }。/画像生成 のオプションが優先されます。
settings-aspect-model = モデル本来の形
settings-persona-on = オン
settings-persona-off = オフ
settings-reset-done = デフォルトを消去しました。/画像生成 はモデル本来の形とペルソナを再び使います。
