//! Following the pages of a listing, and telling one that goes round: a next page read
//! already, a page that lists nothing new yet names a next one, or more pages than any repo has.

use std::collections::HashSet;

use url::Url;

use crate::error::{Error, Result, SettingNames};

/// More pages than a listing of the largest repo takes (the Hub gives 1000 entries a page).
pub const MAX_PAGES: usize = 100_000;

/// What the pages of one listing have shown so far.
pub struct Pagination<'a> {
    repo: &'a str,
    read: HashSet<Url>,
    listed: HashSet<String>,
    max_pages: usize,
}

impl<'a> Pagination<'a> {
    pub fn new(repo: &'a str) -> Self {
        Pagination::with_max_pages(repo, MAX_PAGES)
    }

    fn with_max_pages(repo: &'a str, max_pages: usize) -> Self {
        Pagination {
            repo,
            read: HashSet::new(),
            listed: HashSet::new(),
            max_pages,
        }
    }

    /// Takes in the page `page` that was read, listing `paths` (files and folders) and naming
    /// `next`: the next page to read; `None` at the end; or why the listing goes round.
    pub fn next<'p>(
        &mut self,
        page: Url,
        paths: impl IntoIterator<Item = &'p str>,
        next: Option<Url>,
    ) -> Result<Option<Url>> {
        let mut new_paths = false;
        for path in paths {
            new_paths |= self.listed.insert(path.to_string());
        }
        let Some(next) = next else {
            return Ok(None);
        };
        let repo = self.repo.to_string();
        let names = SettingNames::Spec;
        if self.read.contains(&next) || next == page {
            return Err(Error::ListingLoops {
                repo,
                url: (&next).into(),
                names,
            });
        }
        if !new_paths {
            return Err(Error::ListingRepeats {
                repo,
                url: (&page).into(),
                names,
            });
        }
        self.read.insert(page);
        if self.read.len() >= self.max_pages {
            return Err(Error::ListingTooLong {
                repo,
                pages: self.read.len(),
                names,
            });
        }
        Ok(Some(next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(page: usize) -> Url {
        Url::parse(&format!(
            "http://hub.test/api/models/org/x/tree/c?cursor={page}"
        ))
        .unwrap()
    }

    #[test]
    fn pages_that_list_new_paths_are_followed_to_the_end() {
        let mut pages = Pagination::new("org/x");
        assert_eq!(
            pages.next(url(0), ["a", "d"], Some(url(1))).unwrap(),
            Some(url(1))
        );
        assert_eq!(
            pages.next(url(1), ["d/b"], Some(url(2))).unwrap(),
            Some(url(2))
        );
        // A last page may be empty.
        assert_eq!(pages.next(url(2), [], None).unwrap(), None);
    }

    #[test]
    fn a_listing_that_goes_round_is_refused() {
        let mut pages = Pagination::new("org/x");
        pages.next(url(0), ["a"], Some(url(1))).unwrap();
        let again = pages.next(url(1), ["b"], Some(url(0))).unwrap_err();
        assert_eq!(
            again.to_string().split(". ").next().unwrap(),
            "the file listing of repo org/x loops: its next page, \
             http://hub.test/api/models/org/x/tree/c, was read already"
        );

        // Ever new pages that list what was listed before.
        let mut pages = Pagination::new("org/x");
        pages.next(url(0), ["a", "b"], Some(url(1))).unwrap();
        pages.next(url(1), ["c"], Some(url(2))).unwrap();
        let nothing_new = pages.next(url(2), ["a", "c"], Some(url(3))).unwrap_err();
        assert!(
            matches!(&nothing_new, Error::ListingRepeats { .. })
                && nothing_new
                    .to_string()
                    .contains("lists no path that earlier pages did not"),
            "{nothing_new}"
        );

        let mut pages = Pagination::with_max_pages("org/x", 3);
        pages.next(url(0), ["a"], Some(url(1))).unwrap();
        pages.next(url(1), ["b"], Some(url(2))).unwrap();
        let endless = pages.next(url(2), ["c"], Some(url(3))).unwrap_err();
        assert!(
            endless
                .to_string()
                .starts_with("the file listing of repo org/x goes on past 3 pages"),
            "{endless}"
        );
    }
}
