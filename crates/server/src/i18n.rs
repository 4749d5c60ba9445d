//! The translation catalogue and the language of a request: the `hdos_lang` cookie, else the
//! browser's Accept-Language, else Chinese.

use axum::http::{HeaderMap, header};
use serde::Deserialize;
use std::{collections::HashMap, sync::LazyLock};

pub const LANG_COOKIE: &str = "hdos_lang";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("zh") {
            Some(Lang::Zh)
        } else if s.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The cookie first, then the first supported language of Accept-Language, then Chinese.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        if let Some(lang) = crate::auth::cookie(headers, LANG_COOKIE).and_then(|v| Lang::parse(&v))
        {
            return lang;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .filter_map(|part| part.split(';').next())
                    .find_map(Lang::parse)
            })
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct Entry {
    zh: String,
    en: String,
}

/// Parsed once; a test proves the embedded catalogue parses and is complete.
static CATALOG: LazyLock<HashMap<String, Entry>> = LazyLock::new(|| {
    toml::from_str(include_str!("../i18n/messages.toml")).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the embedded translation catalogue does not parse");
        HashMap::new()
    })
});

/// The translator handed to templates.
#[derive(Debug, Clone, Copy)]
pub struct T {
    pub lang: Lang,
}

impl T {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The text for `key`; an unknown key shows itself, so a gap is visible, never blank.
    pub fn get<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        match CATALOG.get(key) {
            Some(e) => match self.lang {
                Lang::Zh => e.zh.as_str(),
                Lang::En => e.en.as_str(),
            },
            None => key,
        }
    }

    /// The text for `key` with `{name}` placeholders filled in.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut out = self.get_owned(key);
        for (name, value) in args {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }

    fn get_owned(&self, key: &str) -> String {
        CATALOG
            .get(key)
            .map(|e| match self.lang {
                Lang::Zh => e.zh.clone(),
                Lang::En => e.en.clone(),
            })
            .unwrap_or_else(|| key.to_owned())
    }

    pub fn code(&self) -> &'static str {
        self.lang.code()
    }
}

/// Every key of the catalogue, for tests.
pub fn catalog_keys() -> Vec<String> {
    CATALOG.keys().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_and_every_entry_has_both_languages() {
        assert!(CATALOG.len() > 50);
        for (key, e) in CATALOG.iter() {
            assert!(!e.zh.trim().is_empty() && !e.en.trim().is_empty(), "{key}");
        }
    }

    #[test]
    fn accept_language_and_cookie_choose_the_language() {
        let mut h = HeaderMap::new();
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
        h.insert(header::ACCEPT_LANGUAGE, "en-US,en;q=0.9".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::En);
        h.insert(header::COOKIE, "hdos_lang=zh-CN".parse().unwrap());
        assert_eq!(Lang::from_headers(&h), Lang::Zh);
    }

    #[test]
    fn placeholders_are_filled() {
        let t = T::new(Lang::En);
        assert_eq!(t.fmt("common.page_info", &[("total", "7")]), "7 in all");
    }
}
