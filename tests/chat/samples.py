"""Hand-written conversation rows shared by the chat tests."""

from __future__ import annotations

TOOL_ROW = {
    "id": "tool-1",
    "source": "hand-written",
    "license": "cc0-1.0",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is 2**10?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check.\n"},
                {"type": "code", "text": "print(2 ** 10)\n"},
                {"type": "output", "text": "1024\n"},
                {"type": "text", "text": "It is 1024."},
            ],
        },
        {"role": "user", "content": "And 2**0?"},
        {"role": "assistant", "content": "1."},
    ],
}

PLAIN_ROWS = [
    {
        "id": f"plain-{i}",
        "messages": [
            {"role": "user", "content": f"Question {i}: what does `len` return?"},
            {"role": "assistant", "content": f"The number of items ({i})."},
        ],
    }
    for i in range(3)
]

# (reason, row or raw line): one malformed row per reason the reader counts.
BAD_ROWS = [
    ("invalid_json", '{"messages": [ not json'),
    ("not_object", "[1, 2, 3]"),
    ("missing_messages", {"id": "x", "conversation": []}),
    ("bad_messages", {"messages": "hello"}),
    ("bad_message", {"messages": ["hello"]}),
    ("bad_role", {"messages": [{"role": "bot", "content": "hi"}]}),
    ("bad_content", {"messages": [{"role": "user", "content": 7}]}),
    ("bad_content", {"messages": [{"role": "user"}]}),
    (
        "parts_not_assistant",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
    ),
    (
        "bad_part",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "image", "text": "x"}]},
            ]
        },
    ),
    (
        "bad_provenance",
        {"id": 5, "messages": PLAIN_ROWS[0]["messages"]},
    ),
    ("empty_messages", {"messages": []}),
    (
        "system_not_first",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "system", "content": "be nice"},
                {"role": "assistant", "content": "hello"},
            ]
        },
    ),
    (
        "bad_turn_order",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "user", "content": "hello?"},
                {"role": "assistant", "content": "hello"},
            ]
        },
    ),
    (
        "bad_turn_order",
        {"messages": [{"role": "assistant", "content": "I speak first"}]},
    ),
    (
        "empty_text",
        {
            "messages": [
                {"role": "user", "content": "  \n"},
                {"role": "assistant", "content": "hello"},
            ]
        },
    ),
    (
        "empty_text",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "code", "text": ""}]},
            ]
        },
    ),
    (
        "output_without_code",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "look:"},
                        {"type": "output", "text": "42"},
                    ],
                },
            ]
        },
    ),
    (
        "last_not_assistant",
        {
            "messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "bye"},
            ]
        },
    ),
]
