"""kombu's file-system transport, with a message file that appears only once it is complete.

kombu's own `_put` creates the message file under its final name and then writes it, and its
`_get` moves a file out of the queue folder without waiting for the writer. A consumer that
polls at the wrong instant takes an empty file, fails to decode it (JSONDecodeError inside
kombu, before any handler runs), and dies; the message is lost. Under load the relay and the
consumer meet at that instant often enough to stop a stage (found by `make compare`).

Here the message is written under a name the queue does not read (`….msg.partial`) and then
renamed into place: a rename within one folder is atomic, so a reader sees the whole file or
nothing. settings.py registers this class for `filesystem://` URLs.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: the same file name as kombu's, written atomically."""
        filename = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
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
