//! The list of servers a connection tries, built from the options and grown from INFO.

use super::options::{Options, DEFAULT_URL};
use super::status::{Error, Result, Status};

/// A parsed server URL: `[scheme://][user[:pass]@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// `scheme://[user[:pass]@]host:port`, as cnats reports the connected URL.
    pub full: String,
    pub scheme: String,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl ServerUrl {
    pub fn parse(input: &str) -> Result<ServerUrl> {
        let s = input.trim();
        if s.is_empty() {
            return Err(Error::with_text(Status::InvalidArg, "URL cannot be empty"));
        }
        let (scheme, rest) = match s.find("://") {
            Some(i) => (s[..i].to_ascii_lowercase(), &s[i + 3..]),
            None => ("nats".to_string(), s),
        };
        let rest = rest.split('/').next().unwrap_or("");
        let (userinfo, hostport) = match rest.rfind('@') {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(ui) => match ui.find(':') {
                Some(i) => (Some(ui[..i].to_string()), Some(ui[i + 1..].to_string())),
                None => (Some(ui.to_string()), None),
            },
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| Error::with_text(Status::AddressMissing, format!("invalid URL '{s}'")))?;
        let host = if host.is_empty() { "localhost".to_string() } else { host };
        let mut u = ServerUrl { full: String::new(), scheme, host, port, user, password };
        let creds = match (&u.user, &u.password) {
            (Some(us), Some(pw)) => format!("{us}:{pw}@"),
            (Some(us), None) => format!("{us}@"),
            _ => String::new(),
        };
        u.full = format!("{}://{}{}", u.scheme, creds, u.host_port());
        Ok(u)
    }

    /// `host:port`, with brackets around IPv6 literals.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL without credentials, as cnats reports a connected URL.
    pub fn display(&self) -> String {
        format!("{}://{}", self.scheme, self.host_port())
    }
}

fn split_host_port(hp: &str) -> Option<(String, u16)> {
    if let Some(stripped) = hp.strip_prefix('[') {
        let end = stripped.find(']')?;
        let host = stripped[..end].to_string();
        let after = &stripped[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 4222,
            None => return None,
        };
        return Some((host, port));
    }
    match hp.rfind(':') {
        Some(i) if hp[..i].contains(':') => Some((hp.to_string(), 4222)),
        Some(i) => {
            let p = &hp[i + 1..];
            let port = if p.is_empty() { 4222 } else { p.parse().ok()? };
            Some((hp[..i].to_string(), port))
        }
        None => Some((hp.to_string(), 4222)),
    }
}

#[derive(Clone, Debug)]
pub struct Server {
    pub url: ServerUrl,
    /// Learned from INFO rather than configured.
    pub implicit: bool,
    pub reconnects: i32,
    pub did_connect: bool,
    pub last_auth_error: Option<String>,
    pub last_attempt: Option<std::time::Instant>,
}

#[derive(Debug, Default)]
pub struct ServerPool {
    pub servers: Vec<Server>,
    randomize: bool,
    /// (host, port) of every server, so that adding thousands of URLs stays linear.
    known: std::collections::HashSet<(String, u16)>,
}

impl ServerPool {
    pub fn from_options(opts: &Options) -> Result<ServerPool> {
        let mut pool = ServerPool { servers: Vec::new(), randomize: !opts.no_randomize, known: Default::default() };
        for s in &opts.servers {
            pool.add(s, false)?;
        }
        if pool.randomize {
            fastrand::shuffle(&mut pool.servers);
        }
        if let Some(u) = &opts.url {
            pool.add(u, false)?;
            // The URL from SetURL is always tried first.
            let last = pool.servers.len() - 1;
            pool.servers.swap(0, last);
        } else if pool.servers.is_empty() {
            pool.add(DEFAULT_URL, false)?;
        }
        Ok(pool)
    }

    /// Adds a URL unless the pool already has that host and port. Returns whether it was new.
    pub fn add(&mut self, raw: &str, implicit: bool) -> Result<bool> {
        let url = ServerUrl::parse(raw)?;
        if !self.known.insert((url.host.clone(), url.port)) {
            return Ok(false);
        }
        self.servers.push(Server { url, implicit, reconnects: 0, did_connect: false, last_auth_error: None, last_attempt: None });
        Ok(true)
    }

    /// Adds the servers a server advertised; returns true if any was new.
    pub fn add_discovered(&mut self, urls: &[String], tls: bool) -> bool {
        let mut added = Vec::new();
        for u in urls {
            let raw = if u.contains("://") { u.clone() } else if tls { format!("tls://{u}") } else { format!("nats://{u}") };
            if let Ok(true) = self.add(&raw, true) {
                added.push(self.servers.len() - 1);
            }
        }
        if added.is_empty() {
            return false;
        }
        if self.randomize && added.len() > 1 {
            let first = added[0];
            fastrand::shuffle(&mut self.servers[first..]);
        }
        true
    }

    pub fn urls(&self, implicit_only: bool) -> Vec<String> {
        self.servers
            .iter()
            .filter(|s| !implicit_only || s.implicit)
            .map(|s| s.url.display())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.servers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = ServerUrl::parse(" nats://bob:secret@127.0.0.1:4333 ").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 4333));
        assert_eq!(u.user.as_deref(), Some("bob"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.display(), "nats://127.0.0.1:4333");
        let u = ServerUrl::parse("localhost").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str(), u.port), ("nats", "localhost", 4222));
        let u = ServerUrl::parse("tls://[::1]:5000").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str(), u.port), ("tls", "::1", 5000));
        let u = ServerUrl::parse("nats://tok@host").unwrap();
        assert_eq!(u.user.as_deref(), Some("tok"));
        assert!(ServerUrl::parse("nats://host:notaport").is_err());
        assert!(ServerUrl::parse("   ").is_err());
    }

    #[test]
    fn url_option_goes_first_and_duplicates_are_skipped() {
        let opts = Options {
            url: Some("nats://127.0.0.1:1".into()),
            servers: vec!["nats://127.0.0.1:2".into(), "nats://127.0.0.1:3".into(), "nats://127.0.0.1:2".into()],
            ..Options::default()
        };
        let pool = ServerPool::from_options(&opts).unwrap();
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.servers[0].url.port, 1);
    }

    #[test]
    fn discovered_servers_are_implicit() {
        let mut pool = ServerPool::from_options(&Options::default()).unwrap();
        assert!(pool.add_discovered(&["127.0.0.1:5000".into(), "localhost:4222".into()], false));
        assert_eq!(pool.urls(true), vec!["nats://127.0.0.1:5000".to_string()]);
        assert!(!pool.add_discovered(&["127.0.0.1:5000".into()], false));
    }
}
