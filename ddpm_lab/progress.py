"""Progress bars for the library's long loops (training, sampling, Inception features, the classifier).

Those loops report through a plain callback, ``progress(done, total)``, and know nothing of how it is shown;
:class:`Bar` is the callback the stages, the grader and the scripts pass: a tqdm bar made on the first call.
"""

from __future__ import annotations

from typing import Any


class Bar:
    def __init__(self, desc: str, unit: str = "step", leave: bool = True) -> None:
        self.desc, self.unit, self.leave = desc, unit, leave
        self._bar = None

    def __call__(self, done: int, total: int, **postfix: Any) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, initial=0, desc=self.desc, unit=self.unit, leave=self.leave)
        self._bar.update(done - self._bar.n)
        if postfix:
            self._bar.set_postfix(postfix)
        if done >= total:
            self._bar.close()
