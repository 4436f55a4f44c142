#!/usr/bin/python3
"""Reference renderer for the chat-template tests: Python's jinja2, set up the way Hugging Face
transformers renders chat templates. Prints one JSON object per conversation, in order:
{"ok": true, "text": ...} or {"ok": false, "error": ...}. The file holds {"extra_context": {...},
"conversations": [...]}; extra_context is given to every render (variables some templates
expect, such as firefunction's `functions` and `datetime`).

Usage: render_chat_template.py TEMPLATE.jinja CONVERSATIONS.json NOW_UNIX_SECONDS
"""
import datetime
import json
import sys

import jinja2
import jinja2.ext
import jinja2.sandbox


class RaisedByTemplate(Exception):
    pass


def main():
    template_path, conversations_path, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(template_path, encoding="utf-8") as f:
        source = f.read()
    with open(conversations_path, encoding="utf-8") as f:
        document = json.load(f)
    conversations = document["conversations"]
    extra_context = document.get("extra_context", {})

    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).strftime(fmt)

    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(source)
    for conversation in conversations:
        context = dict(extra_context)
        context |= {
            "messages": conversation["messages"],
            "add_generation_prompt": conversation.get("add_generation_prompt", False),
            "bos_token": conversation.get("bos_token", "<s>"),
            "eos_token": conversation.get("eos_token", "</s>"),
        }
        for key in ("tools", "documents"):
            if key in conversation:
                context[key] = conversation[key]
        try:
            print(json.dumps({"ok": True, "text": template.render(**context)}))
        except RaisedByTemplate as e:
            print(json.dumps({"ok": False, "error": str(e), "raised": True}))
        except Exception as e:  # noqa: BLE001 - any template failure is a result to compare
            print(json.dumps({"ok": False, "error": f"{type(e).__name__}: {e}", "raised": False}))


if __name__ == "__main__":
    main()
