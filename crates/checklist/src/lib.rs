//! TOML checklists: the model, validation (with file/line/column), and the runner.
