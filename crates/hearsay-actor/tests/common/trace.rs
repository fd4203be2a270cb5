//! Reading a harness trace's `send` lines (`<µs> send <from> <to> <kind> <bytes> <deltas>`, the
//! `Recorder`'s format): what the tests of `pause.rs` and `removed_member.rs` count.

use hearsay_proto::NodeId;

/// The datagrams the trace shows sent to one of `to` at or after `since` (microseconds since the
/// start), each as its size in bytes.
pub fn sent_to<'a>(trace: &'a str, since: u128, to: &[NodeId]) -> impl Iterator<Item = u64> + 'a {
    let names: Vec<String> = to.iter().map(|id| id.to_string()).collect();
    trace.lines().filter_map(move |line| {
        let words: Vec<&str> = line.split(' ').collect();
        let at = words.first()?.parse::<u128>().ok()?;
        let sent = at >= since && words.get(1) == Some(&"send");
        let to = words.get(3).is_some_and(|w| names.iter().any(|n| n == w));
        (sent && to).then(|| words.get(5)?.parse::<u64>().ok())?
    })
}
