"""kombu's file-system transport, with a message file that appears only once it is complete.

kombu's own `_put` creates the message file under its final name and then writes it, and its
`_get` moves a file out of the queue folder without waiting for the writer. A consumer that
polls at the wrong instant takes an empty file, fails to decode it (JSONDecodeError inside
kombu, before any handler runs), and dies; the message is lost. Under load the relay and the
consumer meet at that instant often enough to stop a stage (found by `make compare`).

Here the message is written under a name the queue does not read (`….msg.partial`) and then
renamed into place: a rename within one folder is atomic, so a reader sees the whole file or
nothing.

The reader also hands files out in the order of their names, and kombu names them after the
millisecond plus a random part: two messages written in one millisecond (the relay publishes
a batch back to back) could come out swapped, an order's "cancelled" before its
"confirmed". Here the name is the millisecond, zero-padded so that it sorts as a number,
then a counter of this process: one publisher's messages come out in the order it wrote them.

config/settings.py registers this class for `filesystem://` URLs.
"""

import itertools
import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

_written = itertools.count()  # messages this process has written


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`, in a file that appears whole, named in write order."""
        # millisecond, then this process's counter, then a random part: unique, and sorted
        # by name in the order this process wrote them.
        filename = (
            f"{round(monotonic() * 1000):015d}_{next(_written):012d}_{uuid.uuid4().hex}.{queue}.msg"
        )
        final = os.path.join(self.data_folder_out, filename)
        partial = f"{final}.partial"  # kombu's reader takes only names ending in `.<queue>.msg`
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
