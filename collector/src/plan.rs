//! Read planning: a meter's quantities merged into as few Modbus reads as
//! possible, each at most 125 registers (the protocol's limit for one
//! read), bridging gaps of up to the map's `max_gap` unused registers
//! rather than paying for another request.

use crate::map::{RegisterKind, RegisterMap};

/// The most registers one read may ask for (Modbus application protocol,
/// functions 03 and 04).
pub const MAX_REGISTERS_PER_READ: u16 = 125;

/// One read request and the quantities it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedRead {
    pub kind: RegisterKind,
    /// Absolute register address (the meter's `startAddress` included).
    pub address: u16,
    pub count: u16,
    /// `(index of the quantity in the map, offset of its first register in
    /// this read)`.
    pub quantities: Vec<(usize, u16)>,
}

/// The reads that fetch every quantity of `map` from a meter whose
/// registers start at `start_address`. The map is valid and
/// `start_address` leaves every quantity in range (config checks both).
pub fn plan(map: &RegisterMap, start_address: u16) -> Vec<PlannedRead> {
    let mut order: Vec<usize> = (0..map.quantities.len()).collect();
    order.sort_by_key(|&i| (map.quantities[i].kind, map.quantities[i].address));
    let mut reads: Vec<PlannedRead> = Vec::new();
    for index in order {
        let q = &map.quantities[index];
        let address = u32::from(start_address) + u32::from(q.address);
        let end = address + u32::from(q.ty.registers());
        if let Some(read) = reads.last_mut() {
            let read_end = u32::from(read.address) + u32::from(read.count);
            let fits = read.kind == q.kind
                && address <= read_end + u32::from(map.max_gap)
                && end - u32::from(read.address) <= u32::from(MAX_REGISTERS_PER_READ);
            if fits {
                read.count = read.count.max((end - u32::from(read.address)) as u16);
                read.quantities
                    .push((index, (address - u32::from(read.address)) as u16));
                continue;
            }
        }
        reads.push(PlannedRead {
            kind: q.kind,
            address: address as u16,
            count: q.ty.registers(),
            quantities: vec![(index, 0)],
        });
    }
    reads
}

/// One read per quantity: what [`plan`] saves requests against.
pub fn one_per_quantity(map: &RegisterMap, start_address: u16) -> Vec<PlannedRead> {
    map.quantities
        .iter()
        .enumerate()
        .map(|(index, q)| PlannedRead {
            kind: q.kind,
            address: start_address + q.address,
            count: q.ty.registers(),
            quantities: vec![(index, 0)],
        })
        .collect()
}

/// Bytes on an RTU wire for `reads`: each request is 8 bytes (unit,
/// function, address, count, CRC), each answer 5 plus 2 per register.
pub fn rtu_bytes(reads: &[PlannedRead]) -> u64 {
    reads.iter().map(|r| 8 + 5 + 2 * u64::from(r.count)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::parse;

    fn map(quantities: &[(&str, &str, u16, &str)], max_gap: u16) -> RegisterMap {
        let mut text = format!(
            "meter = \"test\"\nvalue = \"{}\"\nmax_gap = {max_gap}\n",
            quantities[0].0
        );
        for (name, kind, address, ty) in quantities {
            text.push_str(&format!(
                "[[quantity]]\nname = \"{name}\"\nkind = \"{kind}\"\naddress = {address}\ntype = \"{ty}\"\n"
            ));
        }
        parse("test.toml", "test.toml", &text).unwrap()
    }

    fn shape(reads: &[PlannedRead]) -> Vec<(RegisterKind, u16, u16)> {
        reads.iter().map(|r| (r.kind, r.address, r.count)).collect()
    }

    #[test]
    fn adjacent_and_nearby_registers_share_a_read() {
        let m = map(
            &[
                ("a", "input", 0, "f32"),
                ("b", "input", 2, "f32"),
                ("c", "input", 10, "u16"), // a gap of 6: bridged
                ("d", "input", 40, "f32"), // a gap of 29: a new read
                ("e", "holding", 0, "u16"),
            ],
            10,
        );
        let reads = plan(&m, 100);
        use RegisterKind::*;
        assert_eq!(
            shape(&reads),
            [(Holding, 100, 1), (Input, 100, 11), (Input, 140, 2)]
        );
        assert_eq!(reads[1].quantities, [(0, 0), (1, 2), (2, 10)]);
        // max_gap = 0: only touching registers merge.
        assert_eq!(
            shape(&plan(
                &map(
                    &[
                        ("a", "input", 0, "f32"),
                        ("b", "input", 2, "f32"),
                        ("c", "input", 5, "u16")
                    ],
                    0
                ),
                0
            )),
            [(Input, 0, 4), (Input, 5, 1)]
        );
    }

    #[test]
    fn a_read_never_exceeds_125_registers() {
        let quantities: Vec<(String, &str, u16, &str)> = (0..100)
            .map(|i| (format!("q{i}"), "input", i * 2, "f32"))
            .collect();
        let borrowed: Vec<(&str, &str, u16, &str)> = quantities
            .iter()
            .map(|(n, k, a, t)| (n.as_str(), *k, *a, *t))
            .collect();
        let reads = plan(&map(&borrowed, 10), 0);
        assert_eq!(
            shape(&reads),
            [
                (RegisterKind::Input, 0, 124),
                (RegisterKind::Input, 124, 76)
            ]
        );
        assert!(reads.iter().all(|r| r.count <= MAX_REGISTERS_PER_READ));
        assert_eq!(reads.iter().map(|r| r.quantities.len()).sum::<usize>(), 100);
    }
}
