"""Python sentence-transformers (PyTorch) on the benchmark sentences: the
native anchor of `make compare-native`. Prints one JSON object per
(threads, batch) and a summary object last, in `sentence-multitask bench`'s
key names (t{threads}_b{batch}_sps)."""

import json
import sys
import time

import torch
from sentence_transformers import SentenceTransformer

model_dir, sentences_file, threads, batches, repeats = sys.argv[1:6]
texts = json.load(open(sentences_file))
texts = texts if isinstance(texts, list) else texts["sentences"]
torch.set_num_threads(int(threads))
model = SentenceTransformer(model_dir, device="cpu")
summary = {}
with torch.inference_mode():
    for batch in map(int, batches.split(",")):
        model.encode(texts, batch_size=batch)  # warm-up pass
        start = time.perf_counter()
        for _ in range(int(repeats)):
            model.encode(texts, batch_size=batch)
        seconds = time.perf_counter() - start
        sps = len(texts) * int(repeats) / seconds
        print(json.dumps({"threads": int(threads), "batch_size": batch, "sentences_per_second": sps}))
        summary[f"t{threads}_b{batch}_sps"] = round(sps, 1)
print(json.dumps(summary))
