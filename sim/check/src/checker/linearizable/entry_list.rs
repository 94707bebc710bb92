//! The call and return entries of a key's operations, sorted by time, in a
//! linked list the search lifts operations out of and puts back.

use super::prepare::SearchOp;

/// Call and return entries in a doubly linked list over arrays (Knuth's
/// dancing links): a removed node keeps its own links, so nodes restored in
/// the reverse order of their removal land exactly where they were.
pub(super) struct EntryList {
    /// Node 0 is the head sentinel; node `n > 0` is entry `n - 1`.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The op of each node; `None` for the head.
    node_op: Vec<Option<usize>>,
    node_is_call: Vec<bool>,
    call_node: Vec<usize>,
    return_node: Vec<Option<usize>>,
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

impl EntryList {
    pub(super) fn new(ops: &[SearchOp<'_>]) -> EntryList {
        // (time, is_return, op): at equal times calls sort before returns,
        // so operations that merely touch are concurrent.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            events.push((op.op.invoked_at_ns, false, index));
            if let Some(completed) = op.completed_at_ns {
                events.push((completed, true, index));
            }
        }
        events.sort_unstable();
        let nodes_count = events.len() + 1;
        let mut list = EntryList {
            next: (1..=nodes_count)
                .map(|n| if n == nodes_count { NIL } else { n })
                .collect(),
            prev: (0..nodes_count).map(|n| n.wrapping_sub(1)).collect(),
            node_op: vec![None; nodes_count],
            node_is_call: vec![false; nodes_count],
            call_node: vec![NIL; ops.len()],
            return_node: vec![None; ops.len()],
        };
        for (position, &(_, is_return, op)) in events.iter().enumerate() {
            let node = position + 1;
            list.node_op[node] = Some(op);
            list.node_is_call[node] = !is_return;
            if is_return {
                list.return_node[op] = Some(node);
            } else {
                list.call_node[op] = node;
            }
        }
        assert!(list.call_node.iter().all(|&node| node != NIL));
        list
    }

    /// The candidates: the ops whose calls come before the first return
    /// entry, in list order.
    pub(super) fn candidates(&self) -> impl Iterator<Item = usize> + '_ {
        let mut node = self.next[HEAD];
        std::iter::from_fn(move || {
            let op = self.node_op.get(node).copied().flatten()?;
            if !self.node_is_call[node] {
                return None;
            }
            node = self.next[node];
            Some(op)
        })
    }

    pub(super) fn lift(&mut self, op: usize) {
        self.remove(self.call_node[op]);
        if let Some(node) = self.return_node[op] {
            self.remove(node);
        }
    }

    pub(super) fn unlift(&mut self, op: usize) {
        if let Some(node) = self.return_node[op] {
            self.restore(node);
        }
        self.restore(self.call_node[op]);
    }

    fn remove(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        assert_eq!(self.next[prev], node, "removing a node that is not linked");
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn restore(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        assert_eq!(self.next[prev], next, "restoring out of order");
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }
}
