/* Tests for src/model/dataset.c: CSR layout, stable time order, bounds and
 * bad weights, explicit sizes, content attachment; and the model-name lists
 * of model.c. */
#include <criterion/criterion.h>
#include <math.h>

#include "model/dataset.h"
#include "model/model.h"

Test(dataset, csr_and_time_order)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    cr_assert_not_null(b);
    /* user 1 added out of time order; two events of user 0 share ts 5 */
    cr_assert_eq(tl_dataset_builder_add(b, 1, 7, 1.0f, 30, NULL), TL_OK);
    cr_assert_eq(tl_dataset_builder_add(b, 0, 3, 2.0f, 5, NULL), TL_OK);
    cr_assert_eq(tl_dataset_builder_add(b, 1, 2, 1.0f, 10, NULL), TL_OK);
    cr_assert_eq(tl_dataset_builder_add(b, 0, 4, 1.0f, 5, NULL), TL_OK);
    cr_assert_eq(tl_dataset_builder_add(b, 0, 1, 1.0f, 1, NULL), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 0, 0, &d, NULL), TL_OK);
    cr_assert_eq(d->n_users, 2);
    cr_assert_eq(d->n_items, 8);
    cr_assert_eq(d->n, 5);
    size_t off[] = {0, 3, 5};
    uint32_t items[] = {1, 3, 4, 2, 7};
    for (int i = 0; i < 3; i++) cr_assert_eq(d->off[i], off[i]);
    for (int i = 0; i < 5; i++) cr_assert_eq(d->item[i], items[i], "pos %d", i);
    cr_assert_float_eq(d->weight[1], 2.0f, 1e-9);
    uint32_t cnt[8];
    tl_dataset_item_counts(d, cnt);
    cr_assert_eq(cnt[3], 1);
    cr_assert_eq(cnt[0], 0);
    tl_dataset_free(d);
    tl_dataset_builder_free(b);
}

Test(dataset, rejects_bad_input)
{
    struct tl_dataset_builder *b = tl_dataset_builder_new();
    struct tl_err e;
    tl_err_clear(&e);
    cr_assert_eq(tl_dataset_builder_add(b, 0, 0, 0.0f, 0, &e), TL_EINVAL);
    cr_assert_str_eq(e.field, "weight");
    cr_assert_eq(tl_dataset_builder_add(b, 0, 0, NAN, 0, NULL), TL_EINVAL);
    cr_assert_eq(tl_dataset_builder_add(b, TL_DATASET_IDS_MAX, 0, 1.0f, 0, NULL), TL_ETOOBIG);
    cr_assert_eq(tl_dataset_builder_add(b, 4, 9, 1.0f, 0, NULL), TL_OK);
    struct tl_dataset *d = NULL;
    cr_assert_eq(tl_dataset_builder_finish(b, 3, 0, &d, NULL), TL_EINVAL); /* user 4 seen */
    cr_assert_eq(tl_dataset_builder_finish(b, 10, 20, &d, NULL), TL_OK);
    cr_assert_eq(d->n_users, 10);
    cr_assert_eq(d->n_items, 20);
    cr_assert_eq(d->off[10], 1);
    cr_assert_eq(d->off[4], 0);
    cr_assert_eq(d->off[5], 1);
    char title[] = "Red mug", brand[] = "Acme";
    struct tl_item_text t = {.title = title, .brand = brand};
    cr_assert_eq(tl_dataset_set_text(d, 20, &t, NULL), TL_EINVAL);
    cr_assert_eq(tl_dataset_set_text(d, 2, &t, NULL), TL_OK);
    cr_assert_str_eq(d->text[2].title, "Red mug");
    cr_assert_null(d->text[2].description);
    cr_assert_null(d->text[1].title);
    tl_dataset_free(d);
    tl_dataset_builder_free(b);
}

/* The model-name lists of blend.self_valid and tailor eval --self-valid:
 * whole names only, spaces around entries ignored. */
Test(model_registry, name_in_list)
{
    cr_assert(tl_model_name_in_list("sasrec", "sasrec"));
    cr_assert(tl_model_name_in_list("ease, sasrec ,pop", "sasrec"));
    cr_assert(tl_model_name_in_list(",,pop,", "pop"));
    cr_assert_not(tl_model_name_in_list("popular", "pop"));
    cr_assert_not(tl_model_name_in_list("pop", "popular"));
    cr_assert_not(tl_model_name_in_list("", "pop"));
    cr_assert_not(tl_model_name_in_list(NULL, "pop"));
}
