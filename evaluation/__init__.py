"""Offline evaluation of the shop's recommendations (not imported by anything that serves requests).

Recommendation quality: leave-one-out "similar items" and labelled search by photo.

What is measured is what the shop serves: neighbours come from
`recommendations.selectors.product_similar_list` and `image_similar_list`, the calls the
product page and the API make (or, with selector="visual", from
`product_visually_similar_list`: the raw visual neighbours, before the served list's
preference for the product's own article type and gender). Products are taken in id
order and every list is sorted on fixed keys, so the same database, model and options
give the same numbers. A freshly built HNSW index (each --dataset run builds one) places
its nodes at random levels, so the approximate search may differ there in a rare tie or
miss: expect the same shares, with at most the last digits of coverage or Gini changed.

Labels come from the catalogue tree: articleType is `Product.category`, subCategory its
parent; gender is `Product.gender`. A missing label never counts as a match.

Modules: `metrics` (pure numbers), `similar_items` and `photo_search` (the runs against the
shop's own selectors), `report` (tables, Markdown, plots), `runs` (scratch databases, the commit),
`photo_queries` (the imitated shopper photos).
"""
