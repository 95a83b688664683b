"""A local model-zoo mirror for tests and benchmarks: tarballs laid out like
the authors' (a top folder with `model.ckpt-*` files and a frozen graph),
served over HTTP on 127.0.0.1 only, on a random free port."""

import functools
import http.server
import os
import shutil
import tarfile
import threading

from tests.helpers import make_golden_checkpoint


def make_tarball(tarball_path, top, prefix, checkpoint_name="model.ckpt"):
  """Packs the TF1 checkpoint at `prefix` as the zoo does:
  `<top>/<checkpoint_name>.{index,data-*}` plus a frozen graph."""
  with tarfile.open(tarball_path, "w:gz") as tar:
    for path in sorted(os.listdir(os.path.dirname(prefix))):
      full = os.path.join(os.path.dirname(prefix), path)
      base = os.path.basename(prefix)
      if path.startswith(base + "."):
        tar.add(full, arcname="%s/%s%s" % (top, checkpoint_name,
                                           path[len(base):]))
    graph = os.path.join(os.path.dirname(tarball_path), ".frozen.pb")
    with open(graph, "wb") as f:
      f.write(b"frozen_inference_graph stand-in (deeplab_tf ignores it)")
    tar.add(graph, arcname="%s/frozen_inference_graph.pb" % top)
    os.remove(graph)
  return tarball_path


def make_golden_tarball(directory, tarball_name):
  """The golden MobileNetV2 checkpoint (bit for bit the one the golden
  logits were computed with) as `deeplabv3_mnv2_pascal_train_aug/
  model.ckpt-30000.*` in `<directory>/<tarball_name>`."""
  work = os.path.join(directory, ".golden_ckpt")
  os.makedirs(work, exist_ok=True)
  make_golden_checkpoint(os.path.join(work, "model.ckpt"))
  path = make_tarball(os.path.join(directory, tarball_name),
                      "deeplabv3_mnv2_pascal_train_aug",
                      os.path.join(work, "model.ckpt"), "model.ckpt-30000")
  shutil.rmtree(work)
  return path


class _Handler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, format, *args):  # pylint: disable=redefined-builtin
    pass

  def do_GET(self):
    self.server.requests.append(self.path)
    super().do_GET()


class ZooServer:
  """Serves `directory` at http://127.0.0.1:<free port>/ until stop().

  `requests` lists the paths fetched, so tests can tell a download from a
  cache hit.
  """

  def __init__(self, directory):
    handler = functools.partial(_Handler, directory=str(directory))
    self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    self._httpd.requests = []
    self._thread = threading.Thread(target=self._httpd.serve_forever,
                                    kwargs={"poll_interval": 0.05},
                                    daemon=True)
    self._thread.start()

  @property
  def url(self):
    return "http://127.0.0.1:%d/" % self._httpd.server_address[1]

  @property
  def requests(self):
    return list(self._httpd.requests)

  def stop(self):
    self._httpd.shutdown()
    self._httpd.server_close()
    self._thread.join(timeout=10)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.stop()
