//! Output streams. In text mode screens go to stdout. With `--json`, stdout
//! carries only JSON lines, one per finished stage with the result last, and
//! the screens the customer and supervisor must still read go to stderr.
//! Questions always go to stderr and answers come from stdin.

use std::io::{BufRead, Write};

use serde_json::Value;

use crate::error::Failure;
use crate::lang::Lang;
use crate::render::Style;

/// The client's language, output mode and colour.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub lang: Lang,
    pub json: bool,
    pub style: Style,
}

impl Output {
    pub fn new(lang: Lang, json: bool) -> Output {
        Output {
            lang,
            json,
            style: Style::for_stdout(),
        }
    }

    /// Prints screen text: stdout in text mode, stderr with `--json`.
    pub fn say(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// Prints the text picked for the language.
    pub fn say2(&self, zh_cn: &str, en: &str) {
        self.say(self.lang.pick(zh_cn, en));
    }

    /// Prints one JSON line on stdout, only with `--json`.
    pub fn stage(&self, value: Value) {
        if self.json {
            println!("{value}");
        }
    }

    /// Asks a yes/no question on stderr and reads the answer from stdin.
    /// Only "y", "yes", "是" and "确认" count as yes; anything else, an empty
    /// line and a closed stdin count as no.
    pub fn confirm(&self, question: &str) -> Result<bool, Failure> {
        let answer = self.ask(&format!("{question} [y/N] "))?;
        Ok(matches!(
            answer.as_deref().map(str::to_lowercase).as_deref(),
            Some("y" | "yes" | "是" | "确认")
        ))
    }

    /// Asks for one line on stderr; `None` when stdin is closed.
    pub fn ask(&self, question: &str) -> Result<Option<String>, Failure> {
        eprint!("{question}");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line).map_err(|error| {
            Failure::Failed(match self.lang {
                Lang::ZhCn => format!("错误：无法读取输入：{error}"),
                Lang::En => format!("error: cannot read the answer from stdin: {error}"),
            })
        })?;
        if read == 0 {
            eprintln!();
            return Ok(None);
        }
        Ok(Some(line.trim().to_owned()))
    }
}
