"""Data: sources, tokenizers, the TFDS builder, per-process batches."""

import zipfile

import jax
import numpy as np
import pytest

from aoarm import config as config_lib
from aoarm.data import pipeline, sources
from aoarm.data.markov import MarkovSource
from aoarm.data.text import CharTokenizer, SentencePieceTokenizer, normalize_text8


def test_normalize_and_char_tokenizer_round_trip():
  text = normalize_text8("To be, or not to be: that is the Question!\n  42 times")
  assert text == "to be or not to be that is the question times"
  tok = CharTokenizer()
  ids = tok.encode(text)
  assert ids.min() >= 0 and ids.max() < 27 and tok.decode(ids) == text
  with pytest.raises(ValueError, match="not in text8's alphabet"):
    tok.encode("Hello")


def test_text8_file_and_zip(tmp_path):
  text = ("anarchism originated as a term of abuse " * 50).strip()
  (tmp_path / "text8").write_text(text)
  with zipfile.ZipFile(tmp_path / "text8.zip", "w") as z:
    z.write(tmp_path / "text8", "text8")
  for path in (tmp_path / "text8", tmp_path / "text8.zip"):
    splits = sources.text8(str(path))
    assert "".join(splits[s] for s in sources.SPLITS) == text
    assert abs(len(splits["train"]) - 0.9 * len(text)) <= 1
  (tmp_path / "bad").write_text("Not text8.")
  with pytest.raises(ValueError, match="not in text8 form"):
    sources.text8(str(tmp_path / "bad"))
  with pytest.raises(FileNotFoundError, match="cannot be downloaded"):
    sources.text8(str(tmp_path / "missing"))


def test_shipped_corpus():
  splits = sources.shakespeare()
  assert sum(len(t) for t in splits.values()) == 4_748_132
  assert set(splits["validation"]) <= set(" abcdefghijklmnopqrstuvwxyz")
  assert "to be or not to be" in splits["train"]


def test_tfds_builder_round_trips_a_text_folder(tmp_path):
  words = " ".join(f"word{i % 7} alpha beta" for i in range(400))
  (tmp_path / "texts").mkdir()
  (tmp_path / "texts" / "a.txt").write_text("First, a Title.\n" + words)
  config = config_lib.load_experiment("experiments/corpus.py:size=tiny,seq_len=32")
  config.data.source = "text_dir"
  config.data.path = str(tmp_path / "texts")
  config.data.data_dir = str(tmp_path / "tfds")
  want = normalize_text8((tmp_path / "texts" / "a.txt").read_text())
  train_text = sources.split_by_fraction(want)["train"]
  source = pipeline.data_source(config.data, "train")
  assert len(source) == len(train_text) // 32
  got = "".join(CharTokenizer().decode(source[i]["tokens"]) for i in range(len(source)))
  assert got == train_text[:len(got)]
  # Built once: a second call reads the same files.
  again = pipeline.data_source(config.data, "train")
  np.testing.assert_array_equal(again[3]["tokens"], source[3]["tokens"])


class _Rows:
  """A random-access source of N one-token rows, row i holding i."""

  def __init__(self, n):
    self.n = n

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    return {"tokens": np.array([i], np.int32)}


def test_processes_read_disjoint_slices_that_cover_the_data():
  n, batch, procs = 96, 8, 4
  seen = []
  for proc in range(procs):
    it = pipeline.train_batches(_Rows(n), batch, seed=0, process_index=proc,
                                process_count=procs, num_threads=1)
    epoch = np.concatenate([next(it) for _ in range(n // batch)]).ravel()
    assert len(set(epoch)) == len(epoch) == n // procs  # one epoch, no repeats
    seen.append(set(epoch))
  assert set.union(*seen) == set(range(n))
  assert sum(len(s) for s in seen) == n  # disjoint


def test_train_batches_resume_from_saved_state():
  it = pipeline.train_batches(_Rows(50), 4, seed=1, process_index=0, process_count=1)
  for _ in range(3):
    next(it)
  state = it.get_state()
  expected = [next(it) for _ in range(20)]  # crosses an epoch boundary
  resumed = pipeline.train_batches(_Rows(50), 4, seed=1, process_index=0, process_count=1)
  resumed.set_state(state)
  for want in expected:
    np.testing.assert_array_equal(next(resumed), want)


def test_eval_batches_pad_and_agree_across_processes():
  batches = [list(pipeline.eval_batches(_Rows(10), 4, p, 2)) for p in range(2)]
  assert len(batches[0]) == len(batches[1]) == 3  # 5 rows each, batches of 2
  tokens, weights = batches[1][-1]
  assert weights[:, 0].tolist() == [1.0, 0.0] and tokens[0, 0] == 9
  rows = [int(t[0]) for b in batches for tok, w in b for t, ww in zip(tok, w) if ww[0]]
  assert sorted(rows) == list(range(10))


def test_global_array_one_process():
  mesh = jax.make_mesh((8,), ("data",))
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
  local = np.arange(16, dtype=np.int32).reshape(8, 2)
  out = pipeline.global_array(local, sharding)
  assert out.shape == (8, 2) and len(out.addressable_shards) == 8
  np.testing.assert_array_equal(np.asarray(out), local)


def test_markov_chain_is_stationary_and_seeded():
  chain = MarkovSource(vocab_size=5, seed=3)
  x = chain.sample(200_000, seed=0)
  _, _, pi = chain.params
  np.testing.assert_allclose(np.bincount(x, minlength=5) / len(x), pi, atol=0.01)
  np.testing.assert_array_equal(chain.sample(100, seed=1), MarkovSource(5, seed=3).sample(100, seed=1))
  # The empirical conditional entropy of the sample matches the entropy rate.
  trans = np.zeros((5, 5))
  np.add.at(trans, (x[:-1], x[1:]), 1)
  counts = trans.sum(1, keepdims=True)
  emp = -(trans * np.log(trans / counts + 1e-12)).sum() / counts.sum()
  assert abs(emp - chain.entropy_rate()) < 0.01
  hmm = MarkovSource(vocab_size=6, num_hidden=3, seed=0).sample(1000, seed=0)
  assert hmm.min() >= 0 and hmm.max() < 6


def test_sentencepiece_train_and_load(tmp_path):
  text = "\n".join(f"the quick brown fox number {i} jumps over the lazy dog" for i in range(300))
  tok = SentencePieceTokenizer.train(text, str(tmp_path / "m.model"), vocab_size=60)
  assert tok.vocab_size == 60
  ids = tok.encode("the quick brown fox")
  assert tok.decode(ids) == "the quick brown fox"
  with pytest.raises(FileNotFoundError, match="no SentencePiece model"):
    SentencePieceTokenizer(str(tmp_path / "missing.model"))


def test_subword_pipeline_trains_its_tokenizer(tmp_path):
  for split in sources.SPLITS:
    (tmp_path / "txt" / split).mkdir(parents=True)
    (tmp_path / "txt" / split / "x.txt").write_text(
        "\n".join(f"sentence {i} about language models and orders" for i in range(200)))
  config = config_lib.load_experiment(
      f"experiments/subword.py:path={tmp_path / 'txt'},vocab=40,seq_len=16,size=tiny")
  config.data.data_dir = str(tmp_path / "tfds")
  source = pipeline.data_source(config.data, "validation")
  assert len(source) > 0 and source[0]["tokens"].max() < 40
