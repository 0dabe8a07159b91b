"""CIF-Bench proxy metrics and normalisation against hand-computed values on Chinese examples."""

from __future__ import annotations

import math
import random
import time
from collections import Counter

import pytest
import sacrebleu
from evalkit_cif_bench import metrics
from evalkit_cif_bench.metrics import (
    METRIC_CLASSES,
    bleu,
    char_f1,
    chrf,
    exact_match,
    label_accuracy,
    lcs_length,
    rouge_l_chars,
    score_item,
    set_f1,
)
from evalkit_cif_bench.normalize import NORMALIZATION_VERSION, STRIP_CHARS, normalize

# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("０", "0"),  # full-width digit
        ("１２３", "123"),
        ("答案是Ｂ", "答案是b"),  # full-width Latin, then lower-case
        ("答案是B", "答案是b"),
        ("正确。", "正确"),
        ("「正确」。 ", "正确"),  # nested end punctuation and spaces, stripped repeatedly
        ("《红楼梦》", "红楼梦"),
        ("（蕴含）", "蕴含"),  # full-width brackets become ASCII, then are stripped
        ("“是的！”", "是的"),
        ("**A**", "a"),  # markdown emphasis
        ("你好，世界。", "你好,世界"),  # inner punctuation kept (full-width comma → ",")
        ("  答案\t\n是　 B 。", "答案 是 b"),  # tabs, newlines, ideographic space collapse to one space
        ("-1", "-1"),  # a sign is part of the answer
        ("50%。", "50%"),
        ("Hello, World!", "hello, world"),
        ("。，！？", ""),
        ("", ""),
    ],
)
def test_normalize(text, expected):
    assert normalize(text) == expected


def test_normalize_is_idempotent():
    samples = [chr(cp) for cp in range(0x3400)] + [chr(cp) for cp in range(0xFF00, 0xFFF0)]
    samples += ["Ｙ\u030a", "İ\u0316", "ﬁ", "…。", " 「『答案：Ｂ』」 ", "Ⅻ", "㍿"]
    rng = random.Random(0)
    pool = list("０１Ａｂ，。、！？「」 \t答案正确 İẞ\u0301\u030a") + list(STRIP_CHARS)
    samples += ["".join(rng.choice(pool) for _ in range(rng.randint(1, 8))) for _ in range(2000)]
    for text in samples:
        once = normalize(text)
        assert normalize(once) == once, ascii(text)


def test_normalization_version_is_a_string():
    assert NORMALIZATION_VERSION == "1"


# ---------------------------------------------------------------- exact match and label accuracy


def test_exact_match_after_normalisation():
    assert exact_match("0", "０") == 1.0
    assert exact_match("正确", "正确。") == 1.0
    assert exact_match("B", "ｂ") == 1.0
    assert exact_match("答案是B", "b") == 0.0  # not exact; the label rule accepts it
    assert exact_match("", "正确") == 0.0
    assert exact_match("正确", "") == 0.0
    assert exact_match("", "") == 1.0


LABELS_01 = ["0", "1"]


@pytest.mark.parametrize(
    ("prediction", "gold", "labels", "expected"),
    [
        ("0", "０", LABELS_01, 1.0),  # task 10's full-width gold
        ("正确", "正确。", None, 1.0),
        ("答案：1", "1", LABELS_01, 1.0),
        ("答案：１。", "1", LABELS_01, 1.0),
        ("0或1", "1", LABELS_01, 0.0),  # two labels
        ("10", "1", LABELS_01, 0.0),  # "1" is glued to "0": no label at all
        ("答案是1，置信度90%", "1", LABELS_01, 1.0),  # "0" of "90" is glued: only "1" is a label
        ("答案：0", "1", LABELS_01, 0.0),  # the one label is the wrong one
        ("答案是B", "b", list("abcd"), 1.0),
        ("the answer is b", "b", list("abcd"), 1.0),  # "a" of "answer" is glued
        ("a还是b", "b", list("abcd"), 0.0),
        ("这个说法不正确", "不正确", ["正确", "不正确"], 1.0),  # 正确 inside 不正确 does not count
        ("这个说法不正确", "正确", ["正确", "不正确"], 0.0),
        ("这个说法是正确的", "正确", ["正确", "不正确"], 1.0),
        ("正确还是不正确", "正确", ["正确", "不正确"], 0.0),
        ("答案：１", "1", ["１", "０"], 1.0),  # the label set is normalised too
        ("答案：1", "1", [], 1.0),  # an empty label set: the gold alone is the candidate
        # without a label set
        ("答案：1", "1", None, 1.0),
        ("答案是B", "b", None, 1.0),  # a Chinese character does not glue to a Latin letter
        ("1，1", "1", None, 1.0),  # the same label twice
        ("0或1", "1", None, 0.0),
        ("10", "1", None, 0.0),
        ("选1或2", "1", None, 0.0),
        ("the answer is b", "b", None, 0.0),  # other Latin tokens are label-like
        ("答案：正确", "正确", None, 1.0),
        ("不正确", "正确", None, 0.0),  # glued to 不
        ("这个说法是正确的", "正确", None, 0.0),  # glued: Chinese words need the label set
        ("正确 (1)", "正确", None, 0.0),  # a digit token besides the gold
        # long golds get exact match only
        ("答案是：这是一个很长的标签答案", "这是一个很长的标签答案", None, 0.0),
        ("答案是：这是一个很长的标签答案", "这是一个很长的标签答案", ["这是一个很长的标签答案"], 0.0),
        # empty strings
        ("", "1", LABELS_01, 0.0),
        ("", "1", None, 0.0),
        ("1", "", LABELS_01, 0.0),
        ("1", "", None, 0.0),
        ("", "", None, 1.0),
    ],
)
def test_label_accuracy(prediction, gold, labels, expected):
    assert label_accuracy(prediction, gold, labels) == expected


# ---------------------------------------------------------------- set F1


def test_set_f1_hand_computed():
    # P = {比喻, 拟人, 夸张}, G = {比喻, 排比}: 2·1 / (3 + 2)
    assert set_f1("比喻、拟人，夸张", "比喻、排比") == pytest.approx(2 / 5)
    assert set_f1("拟人，比喻。", "比喻、拟人") == 1.0  # order, separator and end punctuation do not matter
    assert set_f1("比喻 / 拟人;排比", "比喻；拟人、排比") == 1.0
    assert set_f1("比喻、比喻、拟人", "比喻") == pytest.approx(2 * 1 / (2 + 1))  # duplicates collapse
    assert set_f1("存在傲慢，居高临下、同情", "存在傲慢，同情") == pytest.approx(2 * 2 / (3 + 2))
    assert set_f1("比喻、、，", "比喻") == 1.0  # empty items dropped
    assert set_f1("夸张", "比喻") == 0.0


def test_set_f1_empty():
    assert set_f1("", "比喻、拟人") == 0.0
    assert set_f1("比喻", "") == 0.0
    assert set_f1("", "") == 1.0
    assert set_f1("、，。", "") == 1.0


# ---------------------------------------------------------------- character F1


def test_char_f1_hand_computed():
    # overlap 2 (北, 京); P = 2/4, R = 2/2: F = 2·(1/2)·1 / (3/2) = 2/3
    assert char_f1("北京大学", "北京") == pytest.approx(2 / 3)
    # multiset overlap: min(3, 2) = 2 of 哈; P = 2/3, R = 1: F = 0.8
    assert char_f1("哈哈哈", "哈哈") == pytest.approx(0.8)
    assert char_f1("北 京", "北京。") == 1.0  # whitespace and end punctuation removed
    assert char_f1("ＡＢ", "ab") == 1.0
    assert char_f1("上海", "北京") == 0.0


def test_char_f1_empty():
    assert char_f1("", "北京") == 0.0
    assert char_f1("北京", "") == 0.0
    assert char_f1("", "") == 1.0


# ---------------------------------------------------------------- chrF


def _chrf_from_definition(hyp: str, ref: str, order: int = 6, beta: float = 2.0) -> float:
    """chrF as sacrebleu 2.x defines it: average P and R over the orders both sides have, then F_beta."""
    hyp, ref = "".join(hyp.split()), "".join(ref.split())
    precisions, recalls = [], []
    for n in range(1, order + 1):
        h = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        r = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        if h and r:
            match = sum((h & r).values())
            precisions.append(match / sum(h.values()))
            recalls.append(match / sum(r.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    return (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0


def test_chrf_hand_computed():
    # n=1: 2/3, 2/3; n=2: 1/2, 1/2; n=3: 0, 0; n>3: no n-grams. P = R = (2/3 + 1/2 + 0) / 3 = 7/18 = F
    assert chrf("我爱你", "我爱她") == pytest.approx(7 / 18)
    # n=1: P 2/2, R 2/4; n=2: P 1/1, R 1/3; P = 1, R = 5/12: F2 = 5·P·R / (4P + R) = 25/53
    assert chrf("北京", "北京大学") == pytest.approx(25 / 53)
    # beta = 2 weighs recall: the reverse pair has P = 5/12, R = 1: F2 = (25/12) / (5/3 + 1) = 25/32
    assert chrf("北京大学", "北京") == pytest.approx(25 / 32)
    assert chrf("我爱北京天安门。", "我爱北京天安门") == 1.0
    assert chrf("上海", "北京") == 0.0


def test_chrf_matches_its_definition_and_sacrebleu_corpus_chrf():
    pairs = [
        ("今天天气很好，我们去公园散步吧。", "今天天气不错，我们去公园走走吧。"),
        ("床前明月光，疑是地上霜。", "床前明月光，疑似地上霜。举头望明月。"),
        ("The cat sat on the mat.", "A cat was sitting on the mat."),
        ("我爱北京天安门", "我在北京看天安门"),
    ]
    for hyp, ref in pairs:
        h, r = normalize(hyp), normalize(ref)
        assert chrf(hyp, ref) == pytest.approx(_chrf_from_definition(h, r))
        assert chrf(hyp, ref) == pytest.approx(sacrebleu.corpus_chrf([h], [[r]]).score / 100)


def test_chrf_empty():
    assert chrf("", "北京") == 0.0
    assert chrf("北京", "") == 0.0
    assert chrf("", "") == 1.0


# ---------------------------------------------------------------- BLEU


def test_bleu_hand_computed():
    # zh tokens: 我 爱 天 安 门 (c = 5) vs 我 爱 北 京 天 安 门 (r = 7). Precisions 5/5, 3/4 (我爱 天安 安门),
    # 1/3 (天安门), 0/2 → exp smoothing 1/(2·2). BLEU = exp(1 - 7/5) · (1 · 3/4 · 1/3 · 1/4)^(1/4)
    assert bleu("我爱天安门", "我爱北京天安门") == pytest.approx(math.exp(-0.4) * 0.5)
    # no trigram in the prediction: effective order 2, precisions 1, 1; brevity penalty exp(1 - 4/2)
    assert bleu("北京", "北京大学") == pytest.approx(math.exp(-1))
    # all four orders match fully, c = 4 < r = 7
    assert bleu("我爱北京", "我爱北京天安门") == pytest.approx(math.exp(1 - 7 / 4))
    assert bleu("我爱北京天安门。", "我爱北京天安门") == 1.0
    assert bleu("上海", "北京") == 0.0  # no match at any order


def test_bleu_matches_sacrebleu_corpus_bleu_where_no_order_is_empty():
    pairs = [
        ("我爱天安门", "我爱北京天安门"),
        ("今天天气很好，我们去公园散步吧。", "今天天气不错，我们去公园走走吧。"),
        ("床前明月光，疑是地上霜。", "床前明月光，疑似地上霜。举头望明月。"),
    ]
    for hyp, ref in pairs:
        h, r = normalize(hyp), normalize(ref)
        expected = sacrebleu.corpus_bleu([h], [[r]], tokenize="zh").score / 100
        assert bleu(hyp, ref) == pytest.approx(expected)


def test_bleu_empty():
    assert bleu("", "北京") == 0.0
    assert bleu("北京", "") == 0.0
    assert bleu("", "") == 1.0


# ---------------------------------------------------------------- ROUGE-L


def test_rouge_l_chars_hand_computed():
    # LCS(我爱北京天安门, 我在北京看天安门) = 我北京天安门 = 6; P = 6/7, R = 6/8: F = 2·6 / (7 + 8) = 0.8
    assert lcs_length("我爱北京天安门", "我在北京看天安门") == 6
    assert rouge_l_chars("我爱北京天安门", "我在北京看天安门") == pytest.approx(0.8)
    # LCS(北京大学, 京北大) = 2 (北大 or 京大): F = 2·2 / (4 + 3)
    assert rouge_l_chars("北京大学", "京北大") == pytest.approx(4 / 7)
    assert rouge_l_chars("我 爱 你。", "我爱你") == 1.0
    assert rouge_l_chars("上海", "北京") == 0.0


def test_rouge_l_empty():
    assert rouge_l_chars("", "北京") == 0.0
    assert rouge_l_chars("北京", "") == 0.0
    assert rouge_l_chars("", "") == 1.0
    assert lcs_length("", "北京") == 0


def _lcs_dp(a: str, b: str) -> int:
    row = [0] * (len(b) + 1)
    for ch in a:
        prev_diag, row[0] = 0, 0
        for j, other in enumerate(b, 1):
            prev_diag, row[j] = row[j], prev_diag + 1 if ch == other else max(row[j], row[j - 1])
    return row[-1]


def test_lcs_length_matches_the_plain_dynamic_programme():
    rng = random.Random(1)
    for _ in range(300):
        alphabet = rng.choice(["ab", "我爱北京天安门", "abcdefghij"])
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert lcs_length(a, b) == lcs_length(b, a) == _lcs_dp(a, b)


def test_rouge_l_is_fast_on_1000_by_1000_characters():
    rng = random.Random(2)
    a = "".join(chr(0x4E00 + rng.randrange(300)) for _ in range(1000))
    b = "".join(chr(0x4E00 + rng.randrange(300)) for _ in range(1000))
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        rouge_l_chars(a, b)
        best = min(best, time.perf_counter() - start)
    assert best < 0.05


# ---------------------------------------------------------------- score_item


@pytest.mark.parametrize(
    ("metric_class", "keys", "primary"),
    [
        ("label", {"accuracy"}, "accuracy"),
        ("multi_label", {"set_f1"}, "set_f1"),
        ("short_answer", {"exact_match", "char_f1"}, "char_f1"),
        ("short_generation", {"chrf", "bleu", "rouge_l"}, "chrf"),
        ("long_generation", {"chrf", "bleu", "rouge_l"}, "chrf"),
    ],
)
def test_score_item_keys_and_primary_score(metric_class, keys, primary):
    scores = score_item(metric_class, "北京大学", "北京")
    assert set(scores) == keys | {"score"}
    assert scores["score"] == scores[primary]
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert metrics.PRIMARY_SCORE[metric_class] == primary


def test_score_item_values():
    assert score_item("label", "答案：1", "1", ["0", "1"]) == {"accuracy": 1.0, "score": 1.0}
    assert score_item("label", "0或1", "1", ["0", "1"])["score"] == 0.0
    assert score_item("short_answer", "北京大学", "北京") == {
        "exact_match": 0.0,
        "char_f1": pytest.approx(2 / 3),
        "score": pytest.approx(2 / 3),
    }
    generation = score_item("long_generation", "我爱北京天安门", "我在北京看天安门")
    assert generation["rouge_l"] == pytest.approx(0.8)
    assert generation["score"] == generation["chrf"] == chrf("我爱北京天安门", "我在北京看天安门")
    assert score_item("multi_label", "", "比喻") == {"set_f1": 0.0, "score": 0.0}


def test_score_item_rejects_an_unknown_class():
    assert METRIC_CLASSES == ("label", "multi_label", "short_answer", "short_generation", "long_generation")
    with pytest.raises(ValueError, match="metric class"):
        score_item("creative", "a", "a")


@pytest.mark.parametrize("metric_class", METRIC_CLASSES)
def test_every_class_scores_an_empty_prediction_zero(metric_class):
    scores = score_item(metric_class, "", "北京", ["北京", "上海"])
    assert all(v == 0.0 for v in scores.values())
    assert all(v == 1.0 for v in score_item(metric_class, "北京", "北京。").values())


@pytest.mark.parametrize(
    ("prediction", "gold", "expected"),
    [
        ("答案是：否", "否", 1.0),  # the answer phrase's 是 is not a label
        ("这条评论不是侮辱性的，输出否", "否", 1.0),  # 是 inside 不是侮 is a word, 否 ends the answer
        ("不是", "是", 0.0),  # negated
        ("是", "是", 1.0),
        (
            "是的，这是正确的",
            "是",
            0.0,
        ),  # 是 touches Chinese on both sides inside the sentence... and 是的 starts it
        ("输出：是", "是", 1.0),
        ("否。", "否", 1.0),
    ],
)
def test_one_character_chinese_labels_count_only_outside_words(prediction, gold, expected):
    assert label_accuracy(prediction, gold, labels=["是", "否"]) == expected
