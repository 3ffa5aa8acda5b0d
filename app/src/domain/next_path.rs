/// Where to send someone after they log in: only a path on this site, so a
/// crafted `?next=https://evil.example` (or `//evil.example`) cannot turn the
/// login page into an open redirect. Anything unsafe becomes the dialer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextPath(String);

impl NextPath {
    pub const DEFAULT: &'static str = "/dialer";

    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            Some(path) if is_same_site_path(path) => Self(path.to_owned()),
            _ => Self(Self::DEFAULT.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_same_site_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 512
        && !path.chars().any(|c| c.is_control() || c == '\\')
        // the login pages themselves would bounce straight back
        && !path.starts_with("/login")
        && !path.starts_with("/register")
}

#[cfg(test)]
mod tests {
    use super::NextPath;

    #[test]
    fn same_site_paths_are_kept_with_their_query() {
        assert_eq!(NextPath::parse(Some("/wallet")).as_str(), "/wallet");
        assert_eq!(
            NextPath::parse(Some("/calls?page=2")).as_str(),
            "/calls?page=2"
        );
    }

    #[test]
    fn anything_that_could_leave_the_site_becomes_the_dialer() {
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "wallet",
            "/ok\r\nLocation: https://evil.example",
            "",
        ] {
            assert_eq!(NextPath::parse(Some(bad)).as_str(), "/dialer", "{bad:?}");
        }
        assert_eq!(NextPath::parse(None).as_str(), "/dialer");
    }

    #[test]
    fn the_login_pages_are_not_a_destination() {
        assert_eq!(
            NextPath::parse(Some("/login?next=/wallet")).as_str(),
            "/dialer"
        );
    }
}
