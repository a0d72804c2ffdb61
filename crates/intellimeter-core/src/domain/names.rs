//! How names compare. A username is shown as its user typed it, but two
//! usernames are the same user when their keys are equal: the key is the
//! name after NFKC (which folds full-width, circled and other compatibility
//! forms: `ｔｅｓｔ` → `test`), lower case, and NFKC again, as RFC 8265's
//! UsernameCaseMapped profile compares them. So `test`, `TEST` and `ｔｅｓｔ`
//! are one user, for uniqueness, for login and for the login throttle.

use unicode_normalization::UnicodeNormalization;

/// The key a username is compared by.
pub fn username_key(username: &str) -> String {
    let folded: String = username.nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_share_a_key_and_the_rest_do_not() {
        let key = username_key("test");
        for same in ["test", "TEST", "Test", "ｔｅｓｔ", "ＴＥＳＴ", "ｔest"] {
            assert_eq!(username_key(same), key, "{same}");
        }
        for other in ["test1", "tést", "tеst", "te st"] {
            // `tеst` has a Cyrillic `е`: a confusable, not a compatibility
            // form; it stays another name.
            assert_ne!(username_key(other), key, "{other}");
        }
        // Decomposed and composed accents are one name.
        assert_eq!(username_key("te\u{301}st"), username_key("tést"));
        // Ligatures and superscripts fold too.
        assert_eq!(username_key("ﬁle²"), username_key("file2"));
    }
}
