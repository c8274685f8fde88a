"""What every report draws with: self-contained HTML pages (:mod:`.html`) and figures and logos (:mod:`.figures`)."""
