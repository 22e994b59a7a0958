//! Host firewalls pgrepl knows: how to tell one is on, and the rule that lets the standbys'
//! network reach PostgreSQL. pgrepl says the rule; it does not open the firewall itself.

use ipnet::IpNet;

use crate::quote::sh;

/// Prints `firewalld` or `ufw` when that firewall is active; nothing otherwise. Only looks.
pub const PROBE: &str = "if command -v firewall-cmd >/dev/null 2>&1 && firewall-cmd --state >/dev/null 2>&1; then echo firewalld; \
elif command -v ufw >/dev/null 2>&1 && ufw status 2>/dev/null | grep -q '^Status: active'; then echo ufw; fi";

/// The command that admits `net` to `port`/tcp on the firewall `PROBE` named.
pub fn allow_command(firewall: &str, net: &IpNet, port: u16) -> Option<String> {
    rule_command(firewall, net, port, true)
}

/// The command that takes that rule away again (rollback of `--open-firewall`).
pub fn close_command(firewall: &str, net: &IpNet, port: u16) -> Option<String> {
    rule_command(firewall, net, port, false)
}

fn rule_command(firewall: &str, net: &IpNet, port: u16, add: bool) -> Option<String> {
    match firewall.trim() {
        "firewalld" => {
            let family = if net.addr().is_ipv4() { "ipv4" } else { "ipv6" };
            let rule = format!(
                "rule family=\"{family}\" source address=\"{net}\" port port=\"{port}\" protocol=\"tcp\" accept"
            );
            let verb = if add { "add" } else { "remove" };
            Some(format!(
                "firewall-cmd --permanent --{verb}-rich-rule={} && firewall-cmd --reload",
                sh(&rule)
            ))
        }
        "ufw" => {
            let rule = format!("allow from {net} to any port {port} proto tcp");
            Some(if add {
                format!("ufw {rule}")
            } else {
                format!("ufw delete {rule}")
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_rule_for_each_firewall() {
        let net: IpNet = "10.0.1.0/24".parse().unwrap();
        assert_eq!(
            allow_command("ufw\n", &net, 5432).unwrap(),
            "ufw allow from 10.0.1.0/24 to any port 5432 proto tcp"
        );
        let f = allow_command("firewalld", &net, 5433).unwrap();
        assert!(
            f.contains("source address=\"10.0.1.0/24\" port port=\"5433\""),
            "{f}"
        );
        assert!(f.ends_with("firewall-cmd --reload"));
        let v6: IpNet = "fd00::/64".parse().unwrap();
        assert!(allow_command("firewalld", &v6, 5432)
            .unwrap()
            .contains("ipv6"));
        assert_eq!(allow_command("", &net, 5432), None);
        assert_eq!(
            close_command("ufw", &net, 5432).unwrap(),
            "ufw delete allow from 10.0.1.0/24 to any port 5432 proto tcp"
        );
        let closing = close_command("firewalld", &net, 5433).unwrap();
        assert_eq!(closing, f.replace("--add-rich-rule", "--remove-rich-rule"));
    }
}
