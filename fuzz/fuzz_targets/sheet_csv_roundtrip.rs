//! The catalog as a CSV sheet (`baton catalog export --csv`, drive-sync), and its reader (the
//! edits a person made in the synced sheet): any bytes read without a panic, and every sheet
//! the one encoder writes reads back cell for cell (quotes, commas, newlines, formula
//! prefixes, any text).
#![no_main]
use baton_sheet::{read_sheet, write_sheet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("sheet_csv_roundtrip", data.len(), || {
        if let Ok(sheet) = read_sheet(data) {
            let _ = sheet.key_column();
        }
        let f = baton_fuzz::fields(data, 8);
        let columns = vec![f[0].clone(), f[1].clone()];
        let rows =
            vec![(f[2].clone(), vec![f[3].clone(), f[4].clone()]), (f[5].clone(), vec![f[6].clone(), f[7].clone()])];
        let bytes = write_sheet(&columns, rows.clone()).expect("rows as wide as the header are written");
        let back = read_sheet(&bytes).unwrap_or_else(|e| panic!("the encoder's own sheet does not read back: {e}"));
        let mut header = vec!["_key".to_string()];
        header.extend(columns);
        assert_eq!(back.header, header);
        let got: Vec<(String, Vec<String>)> = back.rows.iter().map(|r| (r[0].clone(), r[1..].to_vec())).collect();
        assert_eq!(got, rows);
    });
});
