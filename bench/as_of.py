"""What an as-of forecast costs: building a month's plan, then answering from it.

Issue 9 asks that an as-of forecast be exactly what the model would have said
then, and that it answer in about a second. On a store of every bundled file,
for each month given: the time to build and keep the month's training plan
(:func:`forecasting.training.plan_at` with ``build``), then the exact as-of
forecast of each of eight large southwest citizenships (each reads the month's
data of every series, to check the plan's data hash, and loads the plan), and
the quick refit of the series alone that the API answers where no plan is
kept, for comparison.

``--indicators`` times the same with the plans and answers of a training with
transit indicators (``BORDERCAST_TRAIN_INDICATORS``): each southwest answer
then backtests its candidates at 26 origins (:class:`~forecasting.leading.Leading`).

Run: ``.venv/bin/python bench/as_of.py [--months 2023-01 2024-06] [--db PATH]
[--indicators]``; writes ``bench/results/as_of[-indicators].json``. Delete
``--models`` to time the builds again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indicators import FILES  # noqa: E402
from stores import bundled_store  # noqa: E402

SERIES = ("MX", "GT", "HN", "VE", "CN", "IN", "EC", "CO")


def timed(call):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    value = call()
    return value, round(time.perf_counter() - started, 3)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", nargs="+", default=["2023-01", "2024-06"])
    parser.add_argument("--db", default="/tmp/bordercast-indicators/full.db")
    parser.add_argument("--models", default="/tmp/bordercast-as-of/models")
    parser.add_argument("--indicators", action="store_true")
    args = parser.parse_args()
    os.environ["BORDERCAST_MODEL_DIR"] = args.models
    os.environ["BORDERCAST_TRAIN_INDICATORS"] = "1" if args.indicators else "0"
    from forecasting.forecasts import _refit, get_forecast
    from forecasting.training import plan_at
    from forecasting.vintages import Config

    store = bundled_store(Path(args.db), FILES)
    out = []
    for month in args.months:
        how = Config(indicators=args.indicators)
        _, build = timed(lambda: plan_at(store, month, how, build=True))  # noqa: B023
        exact, quick = [], []
        for code in SERIES:
            answer, seconds = timed(
                lambda: get_forecast(store, code, "southwest", "usbp", 3, as_of=month)  # noqa: B023
            )
            assert answer["model"]["exact"], answer["message"]
            exact.append(seconds)
        for code in SERIES:
            quick.append(timed(lambda: _refit(store, code, "southwest", "usbp", 3, 80, month))[1])  # noqa: B023
        row = {
            "month": month,
            "build_plan_s": build,
            "exact_first_s": exact[0],
            "exact_rest_median_s": sorted(exact[1:])[len(exact[1:]) // 2],
            "exact_all_s": exact,
            "quick_median_s": sorted(quick)[len(quick) // 2],
        }
        print(json.dumps(row))
        out.append(row)
    result = {"series": list(SERIES), "months": out, "load_average_1m": os.getloadavg()[0]}
    name = "as_of-indicators.json" if args.indicators else "as_of.json"
    (ROOT / "bench" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
