"""Fire times from croniter, the independent reference for tests/it/calendar.rs.

Reads a JSON list on stdin, one object per cron expression:
  {"expr": "0 3 * * 1-5", "start": "2026-01-01T00:00:00.123456Z",
   "day_or": true, "count": 200, "until": "2200-01-01T00:00:00Z"}
and prints a JSON list with, for each, the first `count` fire times strictly
after `start` and before `until`, formatted like systemd-analyze prints them
("Fri 2027-01-01 01:30:00 UTC"), or an error. Exits 3 when croniter is not
installed, so the caller can say how to install it.
"""

import datetime
import json
import sys

try:
    from croniter import croniter, CroniterBadDateError
except ImportError as error:
    print(f"cannot import croniter: {error}", file=sys.stderr)
    sys.exit(3)


def parse_instant(text):
    return datetime.datetime.fromisoformat(text).astimezone(datetime.timezone.utc)


def fire_times(request):
    until = parse_instant(request["until"])
    schedule = croniter(
        request["expr"], parse_instant(request["start"]), day_or=request["day_or"]
    )
    times = []
    try:
        while len(times) < request["count"]:
            instant = schedule.get_next(datetime.datetime)
            if instant >= until:
                break
            times.append(instant.strftime("%a %Y-%m-%d %H:%M:%S UTC"))
    except CroniterBadDateError:
        # No further firing within croniter's search window: the caller sees
        # the shorter list.
        pass
    return {"times": times}


def main():
    results = []
    for request in json.load(sys.stdin):
        try:
            results.append(fire_times(request))
        except Exception as error:  # report it against its expression
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


main()
