//! A small handle table with a capacity, like Spin's `spin-resource-table`:
//! host resources (stores, connections) are kept per instance and the guest
//! holds their integer rep.

use std::collections::HashMap;

pub struct Table<T> {
    capacity: usize,
    next: u32,
    entries: HashMap<u32, T>,
}

impl<T> Table<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            next: 0,
            entries: HashMap::new(),
        }
    }

    /// Inserts `value` and returns its rep, or `None` if the table is full.
    pub fn push(&mut self, value: T) -> Option<u32> {
        if self.entries.len() >= self.capacity {
            return None;
        }
        while self.entries.contains_key(&self.next) {
            self.next = self.next.wrapping_add(1);
        }
        let rep = self.next;
        self.next = self.next.wrapping_add(1);
        self.entries.insert(rep, value);
        Some(rep)
    }

    pub fn get(&self, rep: u32) -> Option<&T> {
        self.entries.get(&rep)
    }

    pub fn remove(&mut self, rep: u32) -> Option<T> {
        self.entries.remove(&rep)
    }
}
