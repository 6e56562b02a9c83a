"""Counts what a schemathesis run sent and got, from its NDJSON report (run.sh).

    python3 summary.py REPORT.ndjson

Prints one line per operation (requests, then how many answers per status) and the
closing `N requests, M 5xx`; exits 1 when an answer was a 5xx or a request got none.
"""

import collections
import json
import sys


def main(path: str) -> int:
    statuses = collections.defaultdict(collections.Counter)
    unanswered = 0
    with open(path, encoding="utf-8") as report:
        for line in report:
            event = json.loads(line)
            scenario = event.get("ScenarioFinished")
            if not scenario:
                continue
            recorder = scenario["recorder"]
            for interaction in recorder.get("interactions", {}).values():
                response = interaction.get("response")
                if response is None:
                    unanswered += 1
                    continue
                statuses[recorder["label"]][response["status_code"]] += 1
    total = sum(sum(c.values()) for c in statuses.values()) + unanswered
    server_errors = 0
    for label in sorted(statuses):
        counts = statuses[label]
        server_errors += sum(n for status, n in counts.items() if status >= 500)
        answers = ", ".join(f"{status}: {n}" for status, n in sorted(counts.items()))
        print(f"  {label}: {sum(counts.values())} requests ({answers})")
    print(f"schemathesis: {total} requests, {server_errors} 5xx, {unanswered} unanswered")
    return 1 if server_errors or unanswered else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
