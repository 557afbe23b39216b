"""Loads model folders written by AltCLIP-TS with transformers, as a user would, and reports what it got.

stdin: JSON list of {"dir": str, "texts": [str], "processor": bool, "image_size": int, "xlmr_converter": bool}
(all but dir and texts optional)
stdout: JSON {"transformers": version, "folders": [{"dir", "tokenizer", "ids": [[int]], "processor"?, ...}]}

sentencepiece is blocked: a plain `pip install transformers torch` lacks it, and with it transformers could build
the XLM-R tokenizer from sentencepiece.bpe.model instead of reading tokenizer.json.
"""
import json
import sys

sys.modules["sentencepiece"] = None

import transformers  # noqa: E402
from transformers import AutoProcessor, AutoTokenizer  # noqa: E402


def xlmr_converter(folder):
    """What transformers' own XLMRobertaConverter builds from the folder's sentencepiece.bpe.model (needs protobuf)."""
    try:
        from transformers.convert_slow_tokenizer import XLMRobertaConverter
        import google.protobuf  # noqa: F401
    except ImportError:
        return None

    class Slow:  # the attributes the converter reads from a slow tokenizer
        vocab_file = folder + "/sentencepiece.bpe.model"
        add_prefix_space = True
        legacy = True

        def convert_tokens_to_ids(self, token):
            return {"<s>": 0, "</s>": 2}[token]

    return json.loads(XLMRobertaConverter(Slow()).converted().to_str())


def load(spec):
    tok = AutoTokenizer.from_pretrained(spec["dir"])
    # no padding, truncated at the folder's model_max_length, as a user calling tok(text, truncation=True) gets
    ids = [tok(t, truncation=True)["input_ids"] for t in spec["texts"]]
    out = {"dir": spec["dir"], "tokenizer": type(tok).__name__, "vocab_size": len(tok), "model_max_length": tok.model_max_length, "ids": ids}
    if spec.get("xlmr_converter"):
        out["converter"] = xlmr_converter(spec["dir"])
    if spec.get("processor"):
        proc = AutoProcessor.from_pretrained(spec["dir"])
        out["processor"] = type(proc).__name__
        out["processor_tokenizer"] = type(getattr(proc, "tokenizer", proc)).__name__
        if spec.get("image_size"):
            from PIL import Image

            size = spec["image_size"]
            image = Image.new("RGB", (size * 2, size * 3), (200, 100, 50))
            enc = proc(text=spec["texts"][:2], images=[image], padding=True, return_tensors="pt")
            out["pixel_values_shape"] = list(enc["pixel_values"].shape)
            out["processor_ids"] = enc["input_ids"].tolist()
    return out


def main():
    specs = json.load(sys.stdin)
    json.dump({"transformers": transformers.__version__, "folders": [load(s) for s in specs]}, sys.stdout)


if __name__ == "__main__":
    main()
