"""The agent's reading of a ticket as people write it (issue 13).

Modules, each owning one concern:
- ``email``: the sender's own new text of an email-shaped ticket (greeting, signature, disclaimer,
  quoted history and forwarded mail removed), and out-of-office detection.
- ``language``: the ticket's language (lingua), and what the local default can read.
- ``reading``: speech act, polarity, beneficiary and catalog entities from a dependency parse.
- ``llm_reader``: the same reading from a capable chat model, verified against the text.
"""
