"""One error convention and one flag module for every command line.

Each CLI's main runs in this process (tests/cli_helpers.py). A user error
is one `<prog>: error: ...` line naming the flag or file, exit status 2 for
a usage error (a flag that does not parse, or a value the configuration
rejects) and 1 for a bad file or input; an internal error propagates with
its traceback.
"""

import importlib.util
import json

import pytest
from absl import flags

from deeplab_tf import cli_flags
from tests.cli_helpers import SCRIPTS, assert_one_error, load_script, run_cli
from tests.helpers import REFERENCE, require

GOLDEN = REFERENCE / "golden" / "mobilenetv2_os16"


@pytest.fixture(scope="module")
def tf1_checkpoint(tmp_path_factory):
  """The golden MobileNetV2 TF1 checkpoint, written by the reference's own
  writer (../shared/reference): a MobilenetV2 backbone with 21 classes."""
  path = require(REFERENCE / "make_tf1_checkpoint.py")
  spec = importlib.util.spec_from_file_location("make_tf1_checkpoint", path)
  maker = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(maker)
  prefix = tmp_path_factory.mktemp("tf1") / "model.ckpt"
  maker.make_checkpoint(str(GOLDEN / "variables.json"), str(prefix), 20180207)
  meta = json.loads((GOLDEN / "meta.json").read_text())
  assert meta["model"]["model_variant"] == "mobilenet_v2"
  return prefix


def test_the_cli_scripts_share_one_definition_of_the_model_flags():
  """All five CLIs load into one process (no flag is defined twice), and
  each lists the same model flags, unset by default (= the paper's model or
  what the checkpoint records), in its --help."""
  import deeplab_tf.complexity.cli as complexity_cli  # pylint: disable=g-import-not-at-top
  modules = [load_script(name).__name__ for name in SCRIPTS]
  modules.append(complexity_cli.__name__)
  for module in modules:
    key = {f.name for f in flags.FLAGS.get_key_flags_for_module(module)}
    assert set(cli_flags.MODEL_FLAGS) <= key, (module, sorted(key))
  for name in cli_flags.MODEL_FLAGS:
    assert flags.FLAGS[name].default is None, name
  assert flags.FLAGS["model_variant"].parser.enum_values == [
      "xception_41", "xception_65", "xception_71", "resnet_v1_50",
      "resnet_v1_50_beta", "resnet_v1_101", "resnet_v1_101_beta",
      "mobilenet_v2"]


def test_atrous_rates_repeated_comma_or_none():
  for argv, expected in ((["--atrous_rates=6", "--atrous_rates=12"], [6, 12]),
                         (["--atrous_rates=6,12,18"], [6, 12, 18]),
                         (["--atrous_rates=none"], []), ([], None)):
    flags.FLAGS.unparse_flags()
    flags.FLAGS(["prog"] + argv)
    assert flags.FLAGS.atrous_rates == expected, argv
    assert bool(flags.FLAGS["atrous_rates"].present) == bool(argv)
  flags.FLAGS.unparse_flags()


def test_train_bad_crop_size_is_a_usage_error(tmp_path):
  for crop, reason in (("abc", "--train_crop_size=abc must be "
                                "'height,width'"),
                       ("0,65", "--train_crop_size=0,65 must be two positive "
                                "integers 'height,width'")):
    result = run_cli("train.py", "--dataset=pascal_voc_seg",
                     "--dataset_dir=%s" % tmp_path,
                     "--train_crop_size=" + crop)
    assert_one_error(result, "train.py", 2, reason)
  assert not list(tmp_path.iterdir())  # nothing written


def test_train_missing_dataset_dir(tmp_path):
  assert_one_error(run_cli("train.py", "--dataset=pascal_voc_seg"),
                   "train.py", 2,
                   "--dataset_dir is required for --dataset=pascal_voc_seg")
  missing = tmp_path / "nowhere"
  assert_one_error(run_cli("train.py", "--dataset_dir=%s" % missing),
                   "train.py", 2, "--dataset_dir=%s does not exist" % missing)


def test_flags_that_do_not_parse_are_usage_errors():
  assert_one_error(run_cli("train.py", "--train_batch_sise=4"), "train.py", 2,
                   "Unknown command line flag 'train_batch_sise'")
  assert_one_error(run_cli("eval.py", "--model_variant=vgg_16"), "eval.py", 2,
                   "--model_variant", "xception_65")
  assert_one_error(run_cli("export.py", "--padding=reflect"), "export.py", 2,
                   "--padding=reflect", "choose from crop, none")
  assert_one_error(run_cli("train.py", "unexpected"), "train.py", 2,
                   "unexpected arguments: unexpected")


@pytest.mark.parametrize("prog,args", [
    ("train.py", ["--dataset=pascal_voc_seg"]),
    ("eval.py", ["--dataset=pascal_voc_seg"]),
    ("export.py", ["--dataset=pascal_voc_seg"]),
    ("convert_tf1_checkpoint.py", [])])
def test_model_flag_contradicting_a_tf1_checkpoint(tf1_checkpoint, tmp_path,
                                                   prog, args):
  """Every tool reads what the TF1 checkpoint records (tf1_inspect) and
  names both values when a flag contradicts it; nothing is written."""
  out = tmp_path / "out"
  out.mkdir()
  where = {"train.py": "--dataset_dir", "eval.py": "--eval_logdir",
           "export.py": "--export_dir",
           "convert_tf1_checkpoint.py": "--output_dir"}[prog]
  flag = ("--tf1_checkpoint" if prog == "convert_tf1_checkpoint.py"
          else "--tf_initial_checkpoint")
  result = run_cli(prog, "%s=%s" % (flag, tf1_checkpoint),
                   "--model_variant=xception_65", "%s=%s" % (where, out),
                   *args)
  assert_one_error(result, prog, 2, "--model_variant=xception_65 contradicts "
                   "the checkpoint %s" % tf1_checkpoint,
                   "records model_variant=mobilenet_v2")
  assert not list(out.iterdir())  # nothing written
  if prog != "train.py":  # which fine-tunes to another class count
    result = run_cli(prog, "%s=%s" % (flag, tf1_checkpoint),
                     "--num_classes=19", "%s=%s" % (where, out), *args)
    assert_one_error(result, prog, 2, "--num_classes=19 contradicts", "=21")
  result = run_cli(prog, "%s=%s" % (flag, tf1_checkpoint),
                   "--atrous_rates=6,12,18", "%s=%s" % (where, out), *args)
  assert_one_error(result, prog, 2, "--atrous_rates=", "contradicts the "
                   "checkpoint %s" % tf1_checkpoint, "no atrous")


def test_a_tf1_checkpoint_without_model_flags_is_one_model_everywhere(
    tf1_checkpoint, tmp_path):
  """No model flag: train.py, eval.py, export.py and convert_tf1_checkpoint.py
  all build the model the golden checkpoint was made from (its meta.json),
  the paper's values filling in what it does not record."""
  from deeplab_tf import ModelOptions  # pylint: disable=g-import-not-at-top
  from deeplab_tf.tf1_convert import options_from_flag_values  # pylint: disable=g-import-not-at-top
  meta = json.loads((GOLDEN / "meta.json").read_text())["model"]
  expected = ModelOptions(**{k: meta[k] for k in (
      "model_variant", "output_stride", "atrous_rates",
      "decoder_output_stride", "aspp_with_separable_conv",
      "decoder_use_separable_conv", "add_image_level_feature",
      "aspp_with_concat_projection", "multi_grid", "num_classes",
      "depth_multiplier")})
  # eval.py, export.py and convert_tf1_checkpoint.py resolve it here.
  assert options_from_flag_values(str(tf1_checkpoint), {}) == expected
  train = load_script("train.py")  # defines its flags
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["train.py", "--tf_initial_checkpoint=%s" % tf1_checkpoint,
               "--dataset=pascal_voc_seg", "--dataset_dir=%s" % tmp_path])
  try:
    config = train.config_from_flags()
  finally:
    flags.FLAGS.unparse_flags()
  assert config.model == expected


def test_eval_and_export_missing_checkpoint_dir(tmp_path):
  missing = tmp_path / "x"
  assert_one_error(run_cli("eval.py", "--checkpoint_dir=%s" % missing),
                   "eval.py", 1,
                   "--checkpoint_dir=%s does not exist (neither a directory "
                   "nor a checkpoint prefix with a .index file)" % missing)
  assert_one_error(run_cli("export.py", "--checkpoint_dir=%s" % missing,
                           "--export_dir=%s" % (tmp_path / "out")),
                   "export.py", 1,
                   "--checkpoint_dir %s does not exist" % missing)
  assert not (tmp_path / "out").exists()
  assert_one_error(run_cli("export.py", "--checkpoint_dir=%s" % missing),
                   "export.py", 2, "--export_dir is required")
  # A run directory without its configuration: the file is named.
  assert_one_error(run_cli("export.py", "--checkpoint_dir=%s" % tmp_path,
                           "--export_dir=%s" % (tmp_path / "out")),
                   "export.py", 1, "deeplab_config.json not found")


def test_complexity_bad_flags():
  prog = "python -m deeplab_tf.complexity"
  assert_one_error(run_cli(prog, "--output_stride=12"), prog, 2,
                   "output_stride=12")
  assert_one_error(run_cli(prog, "--output_stride=abc"), prog, 2,
                   "--output_stride=abc")
  assert_one_error(run_cli(prog, "--atrous_rates=6,x"), prog, 2,
                   "--atrous_rates=6,x", "expected integers")


def test_internal_errors_keep_their_traceback(monkeypatch, tmp_path):
  """Not a user error (a bug, even a plain ValueError): it propagates out of
  cli.call unchanged, so Python prints its traceback, and no error line."""
  from deeplab_tf.training import resolve  # pylint: disable=g-import-not-at-top

  def broken(values):
    del values
    raise ValueError("an internal inconsistency")
  monkeypatch.setattr(resolve, "run_config_from_values", broken)
  with pytest.raises(ValueError, match="an internal inconsistency"):
    run_cli("train.py", "--dataset_dir=%s" % tmp_path)


def test_eval_of_a_tf1_checkpoint_is_one_pass(tf1_checkpoint, tmp_path):
  """A TF1 checkpoint is one fixed checkpoint, evaluated in memory: the
  continuous mode that waits for new ones is refused before any work."""
  result = run_cli("eval.py", "--tf_initial_checkpoint=%s" % tf1_checkpoint,
                   "--dataset=pascal_voc_seg", "--dataset_dir=%s" % tmp_path,
                   "--eval_logdir=%s" % (tmp_path / "eval"),
                   "--max_number_of_evaluations=0")
  assert_one_error(result, "eval.py", 2, "--max_number_of_evaluations: a "
                   "TF1 checkpoint is one fixed checkpoint")
  assert not (tmp_path / "eval").exists()
