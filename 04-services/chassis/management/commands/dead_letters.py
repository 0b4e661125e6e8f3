"""`python -m <service> dead_letters list | show EVENT_ID | replay (EVENT_ID... | --all)`:
the messages a consumer gave up on (chassis.dead_letters)."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from chassis import dead_letters


class Command(BaseCommand):
    help = "List, show or replay the events a consumer gave up on (its dead-letter queue)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["list", "show", "replay"])
        parser.add_argument("event_ids", nargs="*", help="the events to show or replay")
        parser.add_argument("--all", action="store_true", help="replay every dead letter")
        parser.add_argument(
            "--consumer",
            default="notifications",
            choices=sorted(settings.SHOP_EVENT_SUBSCRIPTIONS),
            help="whose dead letters (default notifications)",
        )

    def handle(self, *args, action, event_ids, all, consumer, **options):
        if action == "list":
            letters = dead_letters.dead_letters(consumer)
            for letter in letters:
                self.stdout.write(f"{letter.event_id} {letter.event_type} reason={letter.reason}")
            self.stdout.write(f"dead_letters: {len(letters)} in {consumer}'s queue")
        elif action == "show":
            if len(event_ids) != 1:
                raise CommandError("show takes one event id")
            found = [x for x in dead_letters.dead_letters(consumer) if x.event_id == event_ids[0]]
            if not found:
                raise CommandError(f"no dead letter with event id {event_ids[0]}")
            letter = found[0]
            shown = {"reason": letter.reason, "headers": letter.headers, "body": letter.body}
            self.stdout.write(json.dumps(shown, indent=2, default=str))
        else:
            if bool(event_ids) == all:
                raise CommandError("replay takes event ids, or --all")
            sent = dead_letters.replay(consumer, event_ids=None if all else set(event_ids))
            missing = set(event_ids) - {letter.event_id for letter in sent}
            for letter in sent:
                self.stdout.write(f"replayed {letter.event_id} {letter.event_type}")
            if missing:
                raise CommandError(f"no dead letter with event id {', '.join(sorted(missing))}")
