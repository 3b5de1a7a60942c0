"""Write data/digits.csv: scikit-learn's 1,797 handwritten digits (8x8 pixels, 10 classes).

The data set ships inside scikit-learn, so nothing is downloaded. Version the
file afterwards with ``loopml data add data/digits.csv --name digits``.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.datasets import load_digits


def main() -> None:
    out = Path(__file__).resolve().parent / "data" / "digits.csv"
    out.parent.mkdir(exist_ok=True)
    frame = load_digits(as_frame=True).frame
    frame.to_csv(out, index=False)
    print(f"wrote data/digits.csv: {len(frame)} rows, {frame.shape[1]} columns")


if __name__ == "__main__":
    main()
