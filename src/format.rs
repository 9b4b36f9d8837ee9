//! Small formatting helpers shared by every human-readable output: sizes,
//! ages and counted nouns.

/// 1.2 GiB, 340 MiB, 12 KiB, 512 B.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// An elapsed time the way the plan and status show it: `42m`, `26h`,
/// `3d`, `3d4h` (hours up to two days, then days).
pub fn age(elapsed: chrono::Duration) -> String {
    let minutes = elapsed.num_minutes().max(0);
    let hours = minutes / 60;
    match (hours, hours / 24, hours % 24) {
        (0, _, _) => format!("{minutes}m"),
        (h, _, _) if h < 48 => format!("{h}h"),
        (_, d, 0) => format!("{d}d"),
        (_, d, h) => format!("{d}d{h}h"),
    }
}

/// `1 job`, `2 jobs`: a count with its noun, plural by adding `s`.
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// `1 entry`, `2 entries`: a count with its noun, for irregular plurals.
pub fn count_with(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(12 * 1024), "12.0 KiB");
        assert_eq!(human_bytes(1288490189), "1.2 GiB");
    }

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(chrono::Duration::minutes(12)), "12m");
        assert_eq!(age(chrono::Duration::hours(26)), "26h");
        assert_eq!(age(chrono::Duration::hours(76)), "3d4h");
        assert_eq!(age(chrono::Duration::days(3)), "3d");
    }

    #[test]
    fn counts_pluralize() {
        assert_eq!(count(1, "job"), "1 job");
        assert_eq!(count(3, "job"), "3 jobs");
        assert_eq!(count_with(2, "entry", "entries"), "2 entries");
    }
}
