"""PyInstaller runtime hook of the "cpu" variant when it was built from a CUDA torch wheel.

That build keeps only the CUDA libraries torch links at load time and leaves out the ones it
loads on demand (cuDNN engines, cuSOLVER, ...), so GPU inference would fail half-way: hide the
GPUs before torch starts, and ``--device auto`` picks the CPU.
"""

import os

os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ["FRACTOSCOPE_BUILD_VARIANT"] = "cpu"
