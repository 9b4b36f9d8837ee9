//! Where Kubernetes' cron parser (robfig/cron v3, which CronJobs use)
//! reads an expression differently from Vixie cron and systemd.

/// Why an expression fires differently under Kubernetes' parser
/// (robfig/cron v3) than under Vixie cron, or `None` when both agree.
///
/// Both combine the day-of-month and day-of-week fields with AND when
/// either is unrestricted and with OR otherwise; they disagree on what is
/// unrestricted. Vixie cron counts a field starting with `*` (so `*/2`);
/// robfig counts only `*` or `?` with no step (a `*/2` is restricted).
pub fn parser_difference(expression: &str) -> Option<String> {
    let fields: Vec<&str> = expression.split_whitespace().collect();
    let [_, _, dom, _, dow] = fields[..] else {
        return None;
    };
    let vixie = |field: &str| field.starts_with('*');
    let robfig = |field: &str| {
        let (range, step) = field.split_once('/').unwrap_or((field, "1"));
        matches!(range, "*" | "?") && step.trim_start_matches('0') == "1"
    };
    let and_in_vixie = vixie(dom) || vixie(dow);
    let and_in_robfig = robfig(dom) || robfig(dow);
    if and_in_vixie == and_in_robfig {
        return None;
    }
    let (vixie_word, robfig_word) = if and_in_vixie {
        ("AND", "OR")
    } else {
        ("OR", "AND")
    };
    Some(format!(
        "Kubernetes reads `{dom}` (day of month) and `{dow}` (day of week) as both restricted and \
         fires when either matches ({robfig_word}), while cron and systemd fire when {} ({vixie_word})",
        if and_in_vixie { "both match" } else { "either matches" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_fields_that_kubernetes_reads_otherwise_are_found() {
        assert!(parser_difference("0 3 */2 * 1").is_some());
        assert!(parser_difference("0 3 1 * */2").is_some());
        for same in [
            "0 3 */2 * *",
            "0 3 * * */2",
            "0 3 1 * 1",
            "0 3 * * 1",
            "@daily",
            "0 3 1,15 * *",
        ] {
            assert_eq!(parser_difference(same), None, "{same}");
        }
    }
}
