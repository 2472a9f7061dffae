"""The native modules: ``monitor.core._native``, the fold of ``monitor.core.text.normalize`` and
the scans of the detection path (``monitor/core/_native.c``), the rule terms' automaton
(``monitor/core/phrases.c``); ``ocr._components``, the connected components of letter masks
(``ocr/_components.c``); ``ocr._tesseract_calls``, libtesseract's calls into libgomp and
Leptonica (its line images kept raw), the bookkeeping of its LSTM network, its weight products,
its LSTM and max-pool layers, its thresholding of a page and the paragraph search of a pass over
its CPU seconds made cheaper (``ocr/_tesseract_calls.c``, ``ocr/tesseract_network.c``,
``ocr/tesseract_matrix.c``, ``ocr/tesseract_layers.c``, ``ocr/tesseract_threshold.c``; it links
Leptonica, ``libleptonica-dev``).

Everything else about the package is in ``pyproject.toml``; setuptools reads ``ext_modules`` from
here. ``pip install -e .`` (``./dev``) builds them; they need a C compiler and the Python headers
(``gcc``, ``python3-dev`` in ``./dev``'s ``APT_PACKAGES``).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "monitor.core._native",
            ["monitor/core/_native.c", "monitor/core/phrases.c"],
            depends=["monitor/core/native.h"],
            extra_compile_args=["-O2"],
        ),
        Extension("ocr._components", ["ocr/_components.c"], extra_compile_args=["-O2"]),
        Extension(
            "ocr._tesseract_calls",
            [
                "ocr/_tesseract_calls.c",
                "ocr/tesseract_network.c",
                "ocr/tesseract_threshold.c",
                "ocr/tesseract_matrix.c",
                "ocr/tesseract_layers.c",
            ],
            depends=["ocr/tesseract_network.h"],
            libraries=["lept"],
            # no fused multiply-adds: the network's numbers are rounded as Tesseract's own code does
            extra_compile_args=["-O2", "-ffp-contract=off"],
        ),
    ]
)
