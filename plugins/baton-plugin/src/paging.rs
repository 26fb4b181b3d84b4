//! Long results, a page at a time. Reading: [`each_page`] and [`catalog_each`] follow a
//! cursor to the end (a catalog query gives at most 1,000 records a page). Answering: [`page`] cuts a long list
//! into pages with a cursor, so a result stays inside the task's output budget and the sender
//! asks for the next page with `cursor`.
use crate::Failure;

/// Hands every page `fetch(cursor)` gives (`None` first, then each page's `next`) to `visit`,
/// in order, stopping at a failure, at a cursor that repeats, or after `max_pages` (a cursor
/// that never ends). One page is held at a time.
pub fn each_page<T, E>(
    max_pages: usize,
    mut fetch: impl FnMut(Option<&str>) -> Result<(Vec<T>, Option<String>), E>,
    mut visit: impl FnMut(Vec<T>) -> Result<(), E>,
) -> Result<(), E> {
    let mut cursor: Option<String> = None;
    for _ in 0..max_pages.max(1) {
        let (items, next) = fetch(cursor.as_deref())?;
        visit(items)?;
        match next {
            Some(n) if cursor.as_deref() != Some(n.as_str()) => cursor = Some(n),
            _ => break,
        }
    }
    Ok(())
}

/// Every item of every page, collected (see [`each_page`]).
pub fn all_pages<T, E>(
    max_pages: usize,
    fetch: impl FnMut(Option<&str>) -> Result<(Vec<T>, Option<String>), E>,
) -> Result<Vec<T>, E> {
    let mut out = Vec::new();
    each_page(max_pages, fetch, |items| {
        out.extend(items);
        Ok(())
    })?;
    Ok(out)
}

/// Hands every record of the catalog collection `collection` matching `filter` to `visit`,
/// a page (1,000 records) at a time, in key order; errors follow [`crate::catalog_failure`].
pub fn catalog_each(
    collection: &str,
    filter: &str,
    mut visit: impl FnMut(serde_json::Value) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let what = format!("reading {collection}");
    each_page(
        usize::MAX,
        |cursor| {
            let p = crate::catalog::query(collection, filter, cursor, 1000)
                .map_err(|e| crate::failure::catalog_failure(&what, e))?;
            let records: Vec<serde_json::Value> = serde_json::from_str(&p.records)
                .map_err(|e| Failure::Permanent(format!("{what}: the host sent malformed records: {e}")))?;
            Ok((records, p.next))
        },
        |records| records.into_iter().try_for_each(&mut visit),
    )
}

/// One page of a long list: the items from `cursor` (an offset as text; none: the start), at
/// most `limit`, and the cursor of the next page (none on the last). A cursor that is not an
/// offset into the list is `invalid-input`.
pub fn page<T: Clone>(items: &[T], cursor: Option<&str>, limit: usize) -> Result<(Vec<T>, Option<String>), Failure> {
    let start = match cursor {
        None => 0,
        Some(c) => c.parse::<usize>().ok().filter(|s| *s <= items.len()).ok_or_else(|| {
            Failure::InvalidInput(format!("cursor {c:?} is not one this action gave (0..={})", items.len()))
        })?,
    };
    let end = start.saturating_add(limit.max(1)).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_pages_follows_the_cursor_to_the_end() {
        let data: Vec<u32> = (0..25).collect();
        let got = all_pages(100, |c| page(&data, c, 10)).unwrap();
        assert_eq!(got, data);
        let mut calls = 0;
        let looped: Result<Vec<u32>, Failure> = all_pages(5, |_| {
            calls += 1;
            Ok((vec![1], Some(format!("{calls}"))))
        });
        assert_eq!(looped.unwrap().len(), 5, "bounded by max_pages");
        let stuck: Result<Vec<u32>, Failure> = all_pages(50, |_| Ok((vec![1], Some("same".into()))));
        assert_eq!(stuck.unwrap().len(), 2, "a cursor that repeats ends the walk");
    }

    #[test]
    fn page_cuts_and_refuses_foreign_cursors() {
        let data = ["a", "b", "c"];
        assert_eq!(page(&data, None, 2).unwrap(), (vec!["a", "b"], Some("2".into())));
        assert_eq!(page(&data, Some("2"), 2).unwrap(), (vec!["c"], None));
        assert_eq!(page(&data, Some("3"), 2).unwrap(), (vec![], None));
        assert!(matches!(page(&data, Some("9"), 2), Err(Failure::InvalidInput(_))));
        assert!(matches!(page(&data, Some("x"), 2), Err(Failure::InvalidInput(_))));
    }
}
