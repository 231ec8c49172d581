"""Reading Singer input: the SDK's msgspec parsing on raw stdin bytes, with a lean line loop."""

from __future__ import annotations

import sys
import typing as t
from collections import Counter, defaultdict

from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from typing_extensions import override

from target_snowflake_finance.sdk_hooks import process_unknown_message


class SingerInputError(Exception):
    """A line of input that is not a Singer message; the message names the line and the fix."""


class BulkMessageReader(MsgSpecReader):
    """MsgSpecReader's parsing (numbers as Decimal) and errors, for inputs of millions of lines.

    Per line, the SDK's loop decodes stdin to text, calls a wrapper around the decoder and checks
    the `type` key with a new set: about a fifth of the CPU left per record once the record path
    was direct (benchmarks/RESULTS.md). Here stdin is read as bytes (msgspec decodes UTF-8
    itself) and a line goes through the SDK's own checks only when it fails to parse or has no
    `type`, so malformed input fails with the SDK's messages.
    """

    @override
    def process_lines(
        self,
        file_input: t.IO[str] | None,
        callbacks: dict[str, t.Callable[[dict], None]],
    ) -> t.Counter[str]:
        stats: dict[str, int] = defaultdict(int)
        # Bytes wherever the input has them (stdin, `--input FILE`): UTF-8 is then checked
        # strictly per line, and a bad byte is named instead of ending in a traceback.
        source = file_input if file_input is not None else sys.stdin
        lines: t.Iterable[str | bytes] = getattr(source, "buffer", source)
        decode = decoder.decode
        for number, line in enumerate(lines, start=1):
            try:
                message = decode(line)
                kind = message["type"]
            except Exception:
                message = self._parse(number, line)
                kind = message["type"]
            if callback := callbacks.get(kind):
                callback(message)
            else:
                process_unknown_message(self, message)
            stats[kind] += 1
        return Counter(**stats)

    @staticmethod
    def _parse(number: int, line: str | bytes) -> dict[str, t.Any]:
        """A line the fast path refused: say which line and why, in one sentence.

        Invalid UTF-8 is refused, not replaced by U+FFFD (that would load a different value);
        the line itself is not quoted, as it may hold a record's data.
        """
        where = f"input line {number}"
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SingerInputError(
                    f"{where} is not valid UTF-8 (byte 0x{line[e.start]:02x} at offset "
                    f"{e.start}): the tap must write UTF-8; nothing from this line on was loaded"
                ) from None
        if not line.strip():
            raise SingerInputError(f"{where} is empty: every line must be a Singer message")
        try:
            message = decoder.decode(line)
        except Exception as e:
            raise SingerInputError(
                f"{where} is not JSON ({e}): every line must be one Singer message; nothing "
                "from this line on was loaded"
            ) from None
        if not isinstance(message, dict) or "type" not in message:
            raise SingerInputError(
                f"{where} is not a Singer message (a JSON object with a 'type'); nothing from "
                "this line on was loaded"
            )
        return message
