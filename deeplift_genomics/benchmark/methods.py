"""The attribution methods the benchmark compares: their settings, machine labels and display names.

A method setting (:class:`MethodSpec`) has one machine label (:func:`method_label`), used for file names,
table rows and the workflow's targets (``workflow/rules/common.smk`` imports it from here), and one human
name (:func:`display_name`) for figures and reports.
"""

from __future__ import annotations

import dataclasses

from ..io.attributions import method_label


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One attribution method of the comparison, as the engine's ``attribute`` takes it.

    Attributes
    ----------
    method
        ``deeplift | gradient_x_input | guided_backprop_x_input | integrated_gradients | ism``.
    rule
        DeepLIFT rule (``rescale | reveal_cancel | genomics_default``); ignored by other methods.
    references
        ``background | shuffle | zeros``; ignored by ISM.
    n_references
        Number of references per sequence (shuffles); 1 for background and zeros.
    n_steps
        Integrated-gradients steps.
    """

    method: str
    rule: str = "genomics_default"
    references: str = "background"
    n_references: int = 1
    n_steps: int = 10

    @property
    def label(self) -> str:
        """Stable machine name, e.g. ``deeplift_rescale`` or ``deeplift_genomics_default_shuffle20``."""
        return method_label(self.method, self.rule, self.references, self.n_references)

    @property
    def display(self) -> str:
        """Human name for figures and reports."""
        return display_name(self.label)

    def engine_kwargs(self) -> dict:
        """Keyword arguments for ``deeplift_genomics.attribute``."""
        kwargs: dict = {"method": self.method}
        if self.method == "deeplift":
            kwargs["rule"] = self.rule
        if self.method != "ism":
            kwargs["references"] = self.references
            kwargs["n_references"] = self.n_references if self.references == "shuffle" else 1
        if self.method == "integrated_gradients":
            kwargs["n_steps"] = self.n_steps
        return kwargs


_DISPLAY = {
    "gradient_x_input": "grad × input",
    "guided_backprop_x_input": "guided backprop × input",
    "integrated_gradients": "integrated gradients",
    "deeplift_rescale": "DeepLIFT Rescale",
    "deeplift_reveal_cancel": "DeepLIFT RevealCancel",
    "deeplift_genomics_default": "DeepLIFT genomics default",
    "ism": "in-silico mutagenesis",
}


def display_name(label: str) -> str:
    """``deeplift_genomics_default_shuffle10`` -> ``DeepLIFT genomics default (10 shuffled refs)``."""
    if label in _DISPLAY:
        return _DISPLAY[label]
    for base, name in _DISPLAY.items():
        if label.startswith(base + "_shuffle"):
            return f"{name} ({label[len(base) + 8:]} shuffled refs)"
        if label.startswith(base + "_"):
            return f"{name} ({label[len(base) + 1:]} ref)"
    return label


#: The issue's comparison, in the paper's column order.
DEFAULT_METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("gradient_x_input"),
    MethodSpec("guided_backprop_x_input"),
    MethodSpec("integrated_gradients", n_steps=10),
    MethodSpec("deeplift", rule="rescale"),
    MethodSpec("deeplift", rule="reveal_cancel"),
    MethodSpec("deeplift", rule="genomics_default"),
    MethodSpec("deeplift", rule="genomics_default", references="shuffle", n_references=10),
    MethodSpec("deeplift", rule="genomics_default", references="shuffle", n_references=20),
    MethodSpec("ism"),
)

DEEPLIFT_BACKGROUND = ("deeplift_rescale", "deeplift_reveal_cancel", "deeplift_genomics_default")
