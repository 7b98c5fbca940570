//! The languages the client speaks.

use clap::ValueEnum;

/// Language of everything a teller, supervisor or customer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Simplified Chinese, the default for PRC branches.
    #[value(name = "zh-CN")]
    ZhCn,
    /// English.
    #[value(name = "en")]
    En,
}

impl Lang {
    /// Picks the text for this language.
    pub fn pick<'a>(self, zh_cn: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::ZhCn => zh_cn,
            Lang::En => en,
        }
    }
}
