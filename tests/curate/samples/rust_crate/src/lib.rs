//! A fixed-capacity ring buffer that overwrites its oldest element when full.

/// Ring buffer over a boxed slice; `head` is the index of the oldest element.
pub struct RingBuffer<T> {
    items: Vec<Option<T>>,
    head: usize,
    len: usize,
}

impl<T> RingBuffer<T> {
    /// Create an empty buffer holding at most `capacity` elements.
    pub fn with_capacity(capacity: usize) -> Self {
        assert!(capacity > 0, "capacity must be positive");
        let mut items = Vec::with_capacity(capacity);
        items.resize_with(capacity, || None);
        RingBuffer { items, head: 0, len: 0 }
    }

    /// Append an element, returning the one it displaced when the buffer was full.
    pub fn push(&mut self, value: T) -> Option<T> {
        let capacity = self.items.len();
        let tail = (self.head + self.len) % capacity;
        let displaced = self.items[tail].replace(value);
        if self.len == capacity {
            // The slot we wrote was the oldest element: advance the head past it.
            self.head = (self.head + 1) % capacity;
        } else {
            self.len += 1;
        }
        displaced
    }

    /// Remove and return the oldest element.
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let value = self.items[self.head].take();
        self.head = (self.head + 1) % self.items.len();
        self.len -= 1;
        value
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::RingBuffer;

    #[test]
    fn overwrites_oldest_when_full() {
        let mut ring = RingBuffer::with_capacity(2);
        assert_eq!(ring.push(1), None);
        assert_eq!(ring.push(2), None);
        assert_eq!(ring.push(3), Some(1));
        assert_eq!(ring.pop(), Some(2));
        assert_eq!(ring.pop(), Some(3));
        assert!(ring.is_empty());
    }
}
