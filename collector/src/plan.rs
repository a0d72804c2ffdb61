//! Read planning: a meter's quantities merged into as few Modbus reads as
//! possible, bridging gaps of up to the map's `max_gap` unused registers
//! rather than paying for another request, but never asking for more than
//! the map's `max_registers` (at most Modbus' 125) in one read nor reading
//! across one of its `read_breaks`: a read the meter would refuse costs
//! more than the request it saves.

use crate::map::{MODBUS_MAX_REGISTERS, RegisterKind, RegisterMap};

/// The most registers one read may ask for (Modbus application protocol,
/// functions 03 and 04).
pub const MAX_REGISTERS_PER_READ: u16 = MODBUS_MAX_REGISTERS;

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
    let start = u32::from(start_address);
    for index in order {
        let q = &map.quantities[index];
        let address = start + u32::from(q.address);
        let end = address + u32::from(q.ty.registers());
        if let Some(read) = reads.last_mut() {
            let read_end = u32::from(read.address) + u32::from(read.count);
            // Limits and breaks are the map's, relative to startAddress.
            let fits = read.kind == q.kind
                && address <= read_end + u32::from(map.max_gap)
                && map.may_read_together(u32::from(read.address) - start, end - start);
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
        map_with(quantities, &format!("max_gap = {max_gap}\n"))
    }

    /// A map of `quantities` whose head also says `settings`.
    fn map_with(quantities: &[(&str, &str, u16, &str)], settings: &str) -> RegisterMap {
        let mut text = format!(
            "meter = \"test\"\nvalue = \"{}\"\n{settings}",
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

    #[test]
    fn a_read_never_exceeds_the_maps_max_registers() {
        let quantities: Vec<(String, &str, u16, &str)> = (0..20)
            .map(|i| (format!("q{i}"), "input", i * 2, "f32"))
            .collect();
        let borrowed: Vec<(&str, &str, u16, &str)> = quantities
            .iter()
            .map(|(n, k, a, t)| (n.as_str(), *k, *a, *t))
            .collect();
        // 40 registers, at most 15 a read: 14 + 14 + 12 (a 16th register
        // would split a float).
        let m = map_with(&borrowed, "max_registers = 15\n");
        let reads = plan(&m, 1000);
        use RegisterKind::Input;
        assert_eq!(
            shape(&reads),
            [(Input, 1000, 14), (Input, 1014, 14), (Input, 1028, 12)]
        );
        assert_eq!(reads.iter().map(|r| r.quantities.len()).sum::<usize>(), 20);
    }

    #[test]
    fn a_read_never_crosses_a_break() {
        let quantities = [
            ("a", "input", 0, "u16"),
            ("b", "input", 2, "u32"),
            ("c", "input", 4, "u16"), // 4 is a break: a new read
            ("d", "input", 6, "u16"),
            ("e", "input", 20, "u16"), // 20 is a break, but 8..20 is a gap anyway
        ];
        let m = map_with(&quantities, "max_gap = 10\nread_breaks = [4, 20]\n");
        use RegisterKind::Input;
        // startAddress moves the reads, not the breaks (map-relative).
        assert_eq!(
            shape(&plan(&m, 500)),
            [(Input, 500, 4), (Input, 504, 3), (Input, 520, 1)]
        );
        // Without the breaks, one read.
        let m = map_with(&quantities, "max_gap = 15\n");
        assert_eq!(shape(&plan(&m, 500)), [(Input, 500, 21)]);
    }
}
