"""handi-bench's kernel: the public API a model-adapter author imports.

It imports nothing of the project's other packages (an import-linter contract in
``pyproject.toml`` checks this), and importing it loads neither torch nor any model
library. Modules:

* `hcvg.adapter` — `Adapter`, `Capabilities`, `NativeSettings`, `GenerationRequest`;
* `hcvg.sample` and `hcvg.splits` — `Sample` and the `Split` protocol;
* `hcvg.registry` — the one `Registry` class behind every named kind;
* `hcvg.options` — typed component options, coerced once from constructor signatures;
* `hcvg.assets` — declaring and finding pretrained files (never the network);
* `hcvg.video_io`, `hcvg.frames`, `hcvg.atomic` — lossless video files, frame
  operations, atomic writes.
"""

NUM_FRAMES = 15  # L: generated frames, not counting the context frame (paper §4)
FRAME_SIZE = 256  # frames are resized and center-cropped to 256 x 256 (paper §4)
