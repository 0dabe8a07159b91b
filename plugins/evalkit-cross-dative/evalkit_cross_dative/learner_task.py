"""The ``dative_learner`` task: simulated learners trained on child-directed speech, as the paper made them.

A byte-level BPE tokenizer is trained on the AO-CHILDES utterances (the generalization sentences, with their
real verbs, removed first: counted and reported); one OPT-style learner per seed is trained with evalkit's probe
trainer on 128-token blocks of the tokenized text (``<s>`` before every utterance); each finished learner is
exported as a checkpoint folder with its tokenizer (``export_dir/seed_<S>``), which the ``cross_dative`` task
takes as a learner. Items: held-out utterances; score: the learner's per-token dev loss (nats).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ml_collections import ConfigDict

from evalkit.api import Example, Loglikelihood, ModelHandle, Record, Task, UserError
from evalkit_cross_dative import aochildes, files
from evalkit_cross_dative.atomic import write_text_atomic

#: the paper's learner (OPT, reference note §2): 8 layers, width 256, 8 heads, FFN 1,024, ReLU, 128 positions
PAPER_MODEL = dict(
    num_layers=8,
    d_model=256,
    num_heads=8,
    num_kv_heads=8,
    d_ff=1024,
    mlp="relu",
    norm="layernorm",
    position="learned",
    position_offset=2,
    max_len=128,
    attn_bias=True,
    mlp_bias=True,
    tied_embeddings=True,
)
#: Adam (0.9, 0.999), lr 3e-3, linear schedule, batch 16 rows of 128 tokens, no weight decay given upstream
PAPER_TRAIN = dict(
    steps=29_280,
    batch_size=16,
    context_len=128,
    lr=3e-3,
    warmup_steps=24_000,
    schedule="linear",
    min_lr_ratio=0.0,
    b1=0.9,
    b2=0.999,
    weight_decay=0.0,
    clip_norm=1.0,
)
PAPER_SEEDS = (6, 28, 221, 394, 496, 1024, 1102, 1729, 2309, 8128)


@functools.lru_cache(maxsize=4)
def _corpus(corpus_dir: str, stimuli_dir: str, dev_fraction: float, split_seed: int) -> dict[str, Any]:
    utterances = aochildes.read_utterances(corpus_dir or None)
    held_out = [g.original for g in files.read_generalization(stimuli_dir)]
    kept, removed = aochildes.remove_sentences(utterances, held_out)
    train, dev = aochildes.split_dev(kept, dev_fraction, split_seed)
    return {
        "train": train,
        "dev": dev,
        "removed": removed,
        "fingerprint": aochildes.utterances_fingerprint(train),
    }


class DativeLearnerTask(Task):
    name = "dative_learner"
    version = "1"
    description = (
        "Simulated learners for cross-dative generalization: OPT-style LMs trained on AO-CHILDES child-directed "
        "speech (byte-level BPE tokenizer trained first), scored by held-out loss and exported for cross_dative"
    )
    trains_probes = True
    metrics = {"dev_loss": "mean"}

    def default_config(self) -> ConfigDict:
        cfg = ConfigDict()
        cfg.corpus_dir = ""  # AO-CHILDES transcripts; '' = $EVALKIT_AOCHILDES_DIR or ../shared/data/aochildes
        cfg.stimuli_dir = files.default_data_dir()  # for the generalization sentences kept out of training
        cfg.export_dir = "runs/dative-learners"  # tokenizer/ and seed_<S>/ learner folders go here
        cfg.vocab_size = 8192
        cfg.min_frequency = 2
        cfg.dev_fraction = 0.02
        cfg.split_seed = 0
        cfg.dev_items = 2000  # held-out utterances scored per learner
        # imported here, as every plugin does, so that `evalkit --help` and `evalkit plugins` stay jax-free
        from evalkit.train.config import probe_config

        cfg.probe = probe_config(PAPER_MODEL, PAPER_TRAIN, PAPER_SEEDS)
        return cfg

    def validate_config(self, config: ConfigDict) -> None:
        if not 0 < config.dev_fraction < 1:
            raise UserError(
                f"tasks.dative_learner.dev_fraction={config.dev_fraction!r} must be between 0 and 1"
            )
        if not isinstance(config.vocab_size, int) or config.vocab_size < 300:
            raise UserError(
                f"tasks.dative_learner.vocab_size={config.vocab_size!r} must be an integer >= 300"
            )
        if not str(config.export_dir):
            raise UserError("tasks.dative_learner.export_dir must name a folder for the trained learners")

    # --- corpus and tokenizer ---------------------------------------------------------------------------

    def corpus(self, config: ConfigDict) -> dict[str, Any]:
        """Train and dev utterances, the removed generalization sentences and the train text's fingerprint."""
        return _corpus(
            str(config.corpus_dir),
            str(config.stimuli_dir),
            float(config.dev_fraction),
            int(config.split_seed),
        )

    def tokenizer_dir(self, config: ConfigDict) -> Path:
        """The trained tokenizer's folder (trained once per corpus and settings, then reused)."""
        from evalkit_cross_dative.tokenizer import train_bpe_tokenizer

        corpus = self.corpus(config)
        key = f"{corpus['fingerprint'][:12]}-v{config.vocab_size}-m{config.min_frequency}"
        folder = Path(config.export_dir).expanduser() / "tokenizer" / key
        if not (folder / "tokenizer.json").is_file():
            train_bpe_tokenizer(
                corpus["train"], folder, vocab_size=config.vocab_size, min_frequency=config.min_frequency
            )
            write_text_atomic(
                folder / "corpus.json",
                json.dumps(
                    {
                        "train_utterances": len(corpus["train"]),
                        "dev_utterances": len(corpus["dev"]),
                        "generalization_sentences_removed": corpus["removed"],
                        "fingerprint": corpus["fingerprint"],
                    },
                    indent=1,
                ),
            )
        return folder

    def _tokenizer(self, config: ConfigDict) -> Any:
        from evalkit.models import HFTokenizer

        return HFTokenizer(self.tokenizer_dir(config))

    def __init__(self) -> None:
        self._streams: dict[str, np.ndarray] = {}  # tokenizer folder -> training token stream

    def _stream(self, config: ConfigDict) -> np.ndarray:
        """The training text as one token stream: ``<s>`` + ids of each utterance, back to back."""
        key = str(self.tokenizer_dir(config))
        if key not in self._streams:
            from tokenizers import Tokenizer

            raw = Tokenizer.from_file(str(Path(key) / "tokenizer.json"))
            encoded = raw.encode_batch(self.corpus(config)["train"], add_special_tokens=True)  # prepends <s>
            self._streams[key] = np.fromiter((t for e in encoded for t in e.ids), np.int32)
        return self._streams[key]

    # --- probe training ---------------------------------------------------------------------------------

    def training_identity(self, config: ConfigDict) -> dict[str, Any]:
        data = config.to_dict()
        for key in ("probe", "export_dir", "dev_items", "corpus_dir", "stimuli_dir"):
            data.pop(key, None)
        data["corpus"] = self.corpus(config)["fingerprint"]
        return data

    def probe_model_config(self, config: ConfigDict) -> ConfigDict:
        model = ConfigDict(config.probe.model.to_dict())
        model.vocab_size = int(self._tokenizer(config).vocab_size)
        return model

    def training_document(
        self, config: ConfigDict, rng: np.random.Generator
    ) -> tuple[Sequence[int], Sequence[bool]]:
        """One block of ``context_len`` tokens of the training stream (as run_clm's grouped blocks)."""
        stream = self._stream(config)
        block = int(config.probe.train.context_len)
        start = int(rng.integers(len(stream) // block)) * block
        ids = stream[start : start + block]
        return ids, np.ones(len(ids), bool)

    # --- evaluation: dev loss, and the export for cross_dative ---------------------------------------

    def generate(self, config: ConfigDict) -> Iterator[Example]:
        dev = self.corpus(config)["dev"][: int(config.dev_items)]
        for i, text in enumerate(dev):
            yield {"id": f"dev{i:05d}", "text": text}

    def requests(self, example: Example, config: ConfigDict) -> Sequence[Loglikelihood]:
        tok = self._tokenizer(config)
        return [Loglikelihood([int(tok.bos_id)], tok.encode(example["text"]))]

    def score(self, example: Example, responses: Sequence[Any], config: ConfigDict) -> Mapping[str, float]:
        r = responses[0]
        return {"dev_loss": -r.logprob / max(1, r.num_tokens), "tokens": float(r.num_tokens)}

    def evaluate(self, handle: ModelHandle, examples: Sequence[Example], config: ConfigDict) -> None:
        """Exports the seed's learner (a checkpoint folder with the tokenizer), then lets the host score it."""
        import shutil

        from evalkit.models import save_model

        seed = examples[0]["groups"]["seed"]
        folder = Path(config.export_dir).expanduser() / f"seed_{seed}"
        stamp = json.dumps(
            {"seed": seed, "training": self.training_identity(config), "model": config.probe.to_dict()},
            sort_keys=True,
            default=str,
        )
        marker = folder / "evalkit_learner.json"
        if marker.is_file() and marker.read_text(encoding="utf-8") == stamp:
            return None
        if folder.exists():
            shutil.rmtree(folder)  # a learner of other settings: replaced by this one
        save_model(
            folder,
            handle.model,
            self.probe_model_config(config),
            tokenizer_spec=str(self.tokenizer_dir(config)),
        )
        write_text_atomic(marker, stamp)
        return None

    def summarize(self, records: Sequence[Record], config: ConfigDict) -> Mapping[str, Any]:
        """Token-weighted dev loss per learner, and what was kept out of the training text."""
        by_seed: dict[str, list[float]] = {}
        for rec in records:
            s = rec["groups"]["seed"]
            by_seed.setdefault(s, [0.0, 0.0])
            by_seed[s][0] += rec["scores"]["dev_loss"] * rec["scores"]["tokens"]
            by_seed[s][1] += rec["scores"]["tokens"]
        corpus = self.corpus(config)
        return {
            "dev_loss_per_token": {s: round(a / b, 4) for s, (a, b) in by_seed.items() if b},
            "train_utterances": len(corpus["train"]),
            "dev_utterances": len(corpus["dev"]),
            "generalization_sentences_in_corpus": len(corpus["removed"]),
            "learners": {s: str(Path(config.export_dir) / f"seed_{s}") for s in by_seed},
        }
