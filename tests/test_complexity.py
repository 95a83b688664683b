"""Complexity report against independent numbers: the reference graph's
conv Multiply-Adds and profiler figures (shared/reference/README.md,
"Multiply-Adds") and the paper's Tables 3 and 5.

The models are built at 513x513 (and the multi-scale sizes) to get static
shapes, but never run: only shapes are counted.
"""

import pytest

from deeplab_tf import ModelOptions
from deeplab_tf import complexity
from deeplab_tf.complexity import cli
from deeplab_tf.complexity import paper as P

XCEPTION_SC = ModelOptions()
XCEPTION_PLAIN = ModelOptions(decoder_output_stride=None,
                              aspp_with_separable_conv=False,
                              decoder_use_separable_conv=False)
MOBILENET_ZOO = ModelOptions(model_variant="mobilenet_v2", atrous_rates=None,
                             decoder_output_stride=None)

# config, conv MACs, reference graph profiler FLOPs / 2, parameters
# (reference README; parameters include BN moving statistics).
REFERENCE = [
    (XCEPTION_SC, 54.035e9, 54.164e9, 41258213),
    (XCEPTION_PLAIN, 64.920e9, 67.999e9, None),
    (MOBILENET_ZOO, 2.7407e9, 2.752e9, 2146645),
]


@pytest.fixture(scope="module")
def counts():
  """{(options, input size): count} shared by this module's tests, as
  compute_rows' cache: each network is built and counted once."""
  return {}


@pytest.fixture(scope="module")
def counted(counts):
  for opts, *_ in REFERENCE:
    if (opts, 513) not in counts:
      counts[(opts, 513)] = complexity.count(opts, (513, 513))
  return [counts[(opts, 513)] for opts, *_ in REFERENCE]


@pytest.mark.parametrize("index", range(len(REFERENCE)))
def test_conv_macs_match_reference(counted, index):
  _, conv, _, _ = REFERENCE[index]
  assert counted[index].conv_macs == pytest.approx(conv, rel=1e-3)
  assert not counted[index].uncounted


@pytest.mark.parametrize("index", range(len(REFERENCE)))
def test_paper_method_matches_reference_graph(counted, index):
  _, _, paper, params = REFERENCE[index]
  # The reference figures are given to 3 decimals (in B).
  assert counted[index].paper_total == pytest.approx(paper, abs=1e6)
  if params is not None:
    assert counted[index].params == params


def test_space_to_batch_extent():
  # 33x33 feature map, 3x3 kernel: rates 6/12/18 all compute 36 positions,
  # rate 2 computes 34, rate 1 leaves the size alone.
  for rate in (6, 12, 18):
    assert complexity.space_to_batch_extent(33, 3, rate, "same") == 36
  assert complexity.space_to_batch_extent(33, 3, 2, "same") == 34
  assert complexity.space_to_batch_extent(33, 3, 1, "same") == 33
  assert complexity.space_to_batch_extent(33, 3, 1, "valid") == 31


def test_scaled_sizes():
  assert [complexity.scaled_size(513, s) for s in
          complexity.PAPER_EVAL_SCALES] == [257, 385, 513, 641, 769, 897]


def _row(rows, **kw):
  (match,) = [r for r in rows if all(getattr(r, k) == v
                                     for k, v in kw.items())]
  return match


SINGLE_SCALE_ROWS = [
    _row(P.TABLE5, eval_os=16, decoder=True, ms=False, sc=True),   # 54.17
    _row(P.TABLE5, eval_os=16, decoder=False, ms=False),           # 68.00
    _row(P.TABLE3, train_os=16, eval_os=16, decoder=False),        # 81.02
    _row(P.TABLE3, train_os=32, eval_os=32, decoder=False),        # 52.43
]


@pytest.mark.parametrize("row", SINGLE_SCALE_ROWS, ids=P.row_label)
def test_paper_rows_single_scale(row, counts):
  (res,) = P.compute_rows([row], counts)
  assert res["ours"] == pytest.approx(row.published, rel=P.TOLERANCE)


def test_paper_row_multi_scale_flip(counts):
  # Xception-65 + decoder + SC, eval OS 16, six scales and flip: 928.81 B.
  row = _row(P.TABLE5, eval_os=16, ms=True, sc=True)
  (res,) = P.compute_rows([row], counts)
  assert res["ours"] == pytest.approx(row.published, rel=P.TOLERANCE)


def test_inconsistent_row_is_explained(counts):
  row = _row(P.TABLE3, train_os=16, eval_os=16, decoder=True, ms=False)
  (res,) = P.compute_rows([row], counts)
  assert not res["ok"] and res["note"]
  # The decoder costs the same at eval OS 16 and 8 (it runs at stride 4).
  eight = P.compute_rows([
      _row(P.TABLE3, train_os=16, eval_os=8, decoder=True, ms=False),
      _row(P.TABLE3, train_os=16, eval_os=8, decoder=False, ms=False)],
                         counts)
  decoder_cost = eight[0]["ours"] - eight[1]["ours"]
  without = P.compute_rows([_row(P.TABLE3, train_os=16, eval_os=16,
                                 decoder=False)], counts)[0]["ours"]
  assert res["ours"] == pytest.approx(without + decoder_cost, abs=0.05)


def test_cli_prints_counts(capsys):
  assert cli.main(["--model_variant=mobilenet_v2", "--atrous_rates=none",
                   "--decoder_output_stride=none",
                   "--input_size=129"]) == 0
  text = capsys.readouterr().out
  assert "parameters" in text and "2146645" in text
  assert "conv Multiply-Adds" in text


def test_cli_parses_every_field_type(capsys):
  assert cli.main(["--model_variant=mobilenet_v2", "--depth_multiplier=0.5",
                   "--atrous_rates=6,12,18",
                   "--aspp_with_separable_conv=false",
                   "--decoder_output_stride=4", "--input_size=65"]) == 0
  text = capsys.readouterr().out
  assert '"depth_multiplier": 0.5' in text
  assert '"aspp_with_separable_conv": false' in text


def test_cli_bad_options_are_one_line_usage_errors(capsys):
  """A configuration ModelOptions rejects: exit status 2, the reason on one
  line of stderr, no traceback."""
  with pytest.raises(SystemExit) as e:
    cli.main(["--model_variant=xception_65", "--output_stride=12"])
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert "output_stride=12" in err and "Traceback" not in err
